"""Features and classifiers: lemma TF-IDF into one logistic regression per label."""
from __future__ import annotations

from functools import lru_cache
from itertools import chain, repeat
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from .labels import LABELS
from .text import NgramAnalyzer, RussianPreprocessor

_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def best_thresholds(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Per column, the probability cut-off with the best F1 (ties: the one nearest 0.5)."""
    out = np.full(Y.shape[1], 0.5)
    for j in range(Y.shape[1]):
        if Y[:, j].min() == Y[:, j].max():
            continue
        scores = [f1_score(Y[:, j], P[:, j] >= t, zero_division=0) for t in _GRID]
        best = max(scores)
        candidates = _GRID[np.isclose(scores, best)]
        out[j] = float(candidates[np.argmin(np.abs(candidates - 0.5))])
    return out


def _fit_fold(head: Pipeline, docs, Y, train, test) -> np.ndarray:
    head.fit([docs[i] for i in train], Y[train])
    return head.predict_proba([docs[i] for i in test])


class TokenTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` for token lists whose ``transform`` counts in bulk.

    Fitting is scikit-learn's own. ``transform`` looks every n-gram up with one
    C-level ``map`` and lets scipy sum duplicates, instead of the per-feature
    Python counting loop of ``CountVectorizer``: the same matrix, about twice
    as fast, and this is the hot path of tagging.
    """

    def transform(self, raw_documents):
        check_is_fitted(self, "vocabulary_")
        ids: list[int] = []
        lengths: list[int] = []
        if isinstance(self.analyzer, CharNgramAnalyzer):
            # a token's char n-grams never change: cache their feature ids per token
            ids_of = self._token_ids()
            for doc in raw_documents:
                n = len(ids)
                ids.extend(chain.from_iterable(map(ids_of, doc)))
                lengths.append(len(ids) - n)
        else:
            analyze, get, missing = self.build_analyzer(), self.vocabulary_.get, repeat(-1)
            for doc in raw_documents:
                n = len(ids)
                ids.extend(map(get, analyze(doc), missing))
                lengths.append(len(ids) - n)
        n_docs, n_features = len(lengths), len(self.vocabulary_)
        cols = np.array(ids, dtype=np.int64)
        rows = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        known = cols >= 0
        # one sort of (row, column) keys counts every term of every document at C speed
        keys, counts = np.unique(rows[known] * n_features + cols[known], return_counts=True)
        indptr = np.searchsorted(keys, np.arange(n_docs + 1, dtype=np.int64) * n_features)
        X = sparse.csr_matrix((counts.astype(self.dtype), (keys % n_features).astype(np.int32), indptr),
                              shape=(n_docs, n_features))
        if self.binary:
            X.data.fill(1)
        return self._tfidf.transform(X, copy=False)

    def _token_ids(self):
        cached = self.__dict__.get("_ids_cache")
        if cached is None or cached[0] is not self.vocabulary_:
            get, grams = self.vocabulary_.get, self.analyzer.grams
            fn = lru_cache(maxsize=262_144)(
                lambda tok: tuple(i for i in map(get, grams(tok)) if i is not None))
            cached = (self.vocabulary_, fn)
            self.__dict__["_ids_cache"] = cached
        return cached[1]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_ids_cache", None)
        return state


class CharNgramAnalyzer:
    """Character n-grams of each token, padded with spaces like scikit-learn's ``char_wb``.

    They catch typos and word families that lemmas miss («дозвон», «недозвон»).

    >>> CharNgramAnalyzer((3, 3))(["сбой"])
    [' сб', 'сбо', 'бой', 'ой ']
    """

    def __init__(self, ngram_range: tuple[int, int] = (2, 5)):
        self.ngram_range = tuple(ngram_range)

    def grams(self, token: str) -> tuple[str, ...]:
        """The n-grams of one token (cached: the same words recur in every text)."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            cache = self.__dict__["_cache"] = lru_cache(maxsize=262_144)(self._grams)
        return cache(token)

    def _grams(self, token: str) -> tuple[str, ...]:
        lo, hi = self.ngram_range
        w = f" {token} "
        return tuple(w[i:i + n] for n in range(lo, hi + 1) for i in range(len(w) - n + 1))

    def __call__(self, tokens: Sequence[str]) -> list[str]:
        return list(chain.from_iterable(map(self.grams, tokens)))

    def __getstate__(self):
        return {"ngram_range": self.ngram_range}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharNgramAnalyzer) and other.ngram_range == self.ngram_range

    def __repr__(self) -> str:
        return f"CharNgramAnalyzer({self.ngram_range!r})"


class ComplaintClassifier(ClassifierMixin, BaseEstimator):
    """Russian complaint texts → probabilities of the four causes and of recovery.

    ``Y`` has one 0/1 column per label of :data:`nlp.labels.LABELS` (four
    causes, then recovery). With ``cv`` set, ``fit`` first runs a K-fold
    cross-validation on the training data, picks each label's decision
    threshold for the best out-of-fold F1 and stores those figures in
    ``cv_scores_``.

    >>> clf = ComplaintClassifier(cv=0, min_df=1).fit(
    ...     ["не дозвониться", "приложение вылетает", "спасибо"], [[1,0,0,0,0],[0,0,1,0,1],[0,0,0,0,0]])
    >>> clf.predict(["опять вылетает приложение"]).shape
    (1, 5)
    """

    def __init__(self, preprocessor: RussianPreprocessor | None = None, ngram_range: tuple[int, int] = (1, 2),
                 min_df: int = 2, max_df: float = 0.5, char_ngrams: tuple[int, int] | None = (2, 5),
                 C: float = 4.0, class_weight: str | None = "balanced", cv: int = 5, n_jobs: int | None = None,
                 random_state: int = 0):
        self.preprocessor = preprocessor
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.char_ngrams = char_ngrams
        self.C = C
        self.class_weight = class_weight
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _head(self) -> Pipeline:
        """Token lists → labels: the part that cross-validation refits per fold."""
        words = TokenTfidfVectorizer(analyzer=NgramAnalyzer(self.ngram_range), min_df=self.min_df,
                                max_df=self.max_df, sublinear_tf=True, dtype=np.float32)
        blocks = [("words", words)]
        if self.char_ngrams:
            blocks.append(("chars", TokenTfidfVectorizer(
                analyzer=CharNgramAnalyzer(self.char_ngrams), min_df=self.min_df, max_df=self.max_df,
                sublinear_tf=True, dtype=np.float32)))
        features = blocks[0][1] if len(blocks) == 1 else FeatureUnion(blocks)
        # the dual problem is the faster one when features outnumber texts, as here
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear", dual=True,
                                max_iter=1000, random_state=self.random_state)
        return Pipeline([("features", features), ("clf", OneVsRestClassifier(lr))])

    def fit(self, X: Sequence[str], Y, is_complaint=None) -> "ComplaintClassifier":
        """Learn from texts ``X`` and the label matrix ``Y`` (n × 5).

        ``is_complaint`` (optional, one bool per text) restricts threshold
        choice and CV scores to complaint rows, the rows the guide scores on;
        every row is still learnt from.
        """
        Y = np.asarray(Y, dtype=np.int8)
        if Y.ndim != 2 or Y.shape[1] != len(LABELS) or Y.shape[0] != len(X):
            raise ValueError(f"Y must be an n×{len(LABELS)} 0/1 matrix (columns {LABELS}) with one row per text")
        self.preprocessor_ = clone(self.preprocessor) if self.preprocessor is not None else RussianPreprocessor()
        docs = self.preprocessor_.fit_transform(X)
        Y_all = Y
        self.labels_ = list(LABELS)
        self.thresholds_ = np.full(len(LABELS), 0.5)
        self.cv_scores_ = None
        if self.cv and self.cv > 1:
            P = np.zeros(Y.shape, dtype=float)
            folds = list(KFold(self.cv, shuffle=True, random_state=self.random_state).split(docs))
            fold_probs = Parallel(n_jobs=self.n_jobs)(
                delayed(_fit_fold)(self._head(), docs, Y, train, test) for train, test in folds)
            for (_, test), probs in zip(folds, fold_probs):
                P[test] = probs
            scored = np.ones(len(Y), bool) if is_complaint is None else np.asarray(is_complaint, bool)
            Y, P = Y[scored], P[scored]
            self.thresholds_ = best_thresholds(Y, P)
            pred = P >= self.thresholds_
            self.cv_scores_ = {
                "folds": int(self.cv),
                "rows": "complaint rows" if is_complaint is not None else "all rows",
                "f1": {lab: round(float(f1_score(Y[:, j], pred[:, j], zero_division=0)), 4)
                       for j, lab in enumerate(LABELS)},
                "cause_macro_f1": round(float(f1_score(Y[:, :-1], pred[:, :-1], average="macro",
                                                       zero_division=0)), 4),
            }
        self.head_ = self._head().fit(docs, np.asarray(Y_all, dtype=np.int8))
        return self

    def predict_proba_docs(self, docs: list[list[str]]) -> np.ndarray:
        """Probabilities (n × 5) for texts already turned into token lists."""
        check_is_fitted(self, "head_")
        if not docs:
            return np.zeros((0, len(self.labels_)))
        return self.head_.predict_proba(docs)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Probabilities (n × 5), columns in the order of ``labels_``."""
        check_is_fitted(self, "head_")
        return self.predict_proba_docs(self.preprocessor_.transform(X))

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """0/1 decisions (n × 5) at the cross-validated thresholds."""
        return (self.predict_proba(X) >= self.thresholds_).astype(np.int8)

    def feature_weights(self, docs: list[list[str]], label: str) -> list[tuple[str, float]]:
        """Each feature present in one token list with its push on ``label`` (tf-idf × coef)."""
        j = self.labels_.index(label)
        features = self.head_.named_steps["features"]
        row = sparse.csr_matrix(features.transform(docs))
        est = self.head_.named_steps["clf"].estimators_[j]
        coef = np.ravel(getattr(est, "coef_", np.zeros(row.shape[1])))
        names = features.get_feature_names_out()
        return [(str(names[k]), float(v * coef[k])) for k, v in zip(row.indices, row.data)]
