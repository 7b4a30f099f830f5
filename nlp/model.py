"""Features and classifiers: lemma TF-IDF into one logistic regression per label."""
from __future__ import annotations

from functools import lru_cache
from itertools import chain, repeat
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from .labels import LABELS
from .text import NgramAnalyzer, RussianPreprocessor

_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def best_thresholds(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Per column, the probability cut-off with the best F1 (ties: the one nearest 0.5)."""
    from sklearn.metrics import f1_score

    out = np.full(Y.shape[1], 0.5)
    for j in range(Y.shape[1]):
        if Y[:, j].min() == Y[:, j].max():
            continue
        scores = [f1_score(Y[:, j], P[:, j] >= t, zero_division=0) for t in _GRID]
        best = max(scores)
        candidates = _GRID[np.isclose(scores, best)]
        out[j] = float(candidates[np.argmin(np.abs(candidates - 0.5))])
    return out


def pool_recovery(predict, docs: list[list[str]], window: int | None) -> np.ndarray:
    """``predict(docs)``, with recovery the maximum over the text and its windows of ``window`` tokens.

    Recovery is an event: one clause («деньги всё-таки вернули») in a long
    review is enough, and over a whole long text TF-IDF dilutes it. Texts of
    up to two windows are left whole (short enough not to dilute, and most
    of a log), so the extra work falls on long texts only. The causes keep
    the whole-text probability.
    """
    P = predict(docs)
    if not window:
        return P
    windows, owner = [], []
    for i, doc in enumerate(docs):
        if len(doc) > 2 * window:
            for start in range(0, len(doc), window):
                windows.append(doc[start:start + window])
                owner.append(i)
    if windows:
        best = np.zeros(len(docs))
        np.maximum.at(best, owner, predict(windows)[:, -1])
        P[:, -1] = np.maximum(P[:, -1], best)
    return P


def _fit_fold(head: Pipeline, docs, Y, train, test, window) -> np.ndarray:
    head.fit([docs[i] for i in train], Y[train])
    return pool_recovery(head.predict_proba, [docs[i] for i in test], window)


class TokenTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` for token lists whose ``transform`` counts with arrays.

    Fitting is scikit-learn's own. ``transform`` is the hot path of tagging:
    instead of ``CountVectorizer``'s per-feature Python loop it numbers each
    distinct token once (:class:`WordTable`, :class:`CharTable`) and counts
    with NumPy/SciPy. The matrix is the same (a test compares them).
    """

    def transform(self, raw_documents):
        check_is_fitted(self, "vocabulary_")
        X = self._table().counts(raw_documents)
        if self.binary:
            X.data.fill(1)
        return self._tfidf.transform(X, copy=False)

    def _table(self) -> "_TokenTable":
        table = self.__dict__.get("_table_cache")
        if table is None or table.vocabulary is not self.vocabulary_:
            if isinstance(self.analyzer, CharNgramAnalyzer):
                table = CharTable(self.vocabulary_, self.analyzer.grams, self.dtype)
            elif isinstance(self.analyzer, NgramAnalyzer) and self.analyzer.ngram_range in ((1, 1), (1, 2)):
                table = WordTable(self.vocabulary_, self.dtype)
            else:
                raise ValueError(f"TokenTfidfVectorizer cannot count with {self.analyzer!r}")
            self.__dict__["_table_cache"] = table
        return table

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_table_cache", None)
        return state


class _TokenTable:
    """Distinct tokens numbered as they arrive, so that counting is array work.

    Tagging spends its time turning token lists into feature counts. Each
    distinct token gets a number once; after that a batch of documents is an
    array of numbers, and every count is computed by NumPy/SciPy in C. The
    table is bounded: past ``max_tokens`` tokens beyond the vocabulary's own it
    starts afresh from the vocabulary's tokens, whose numbers never change.
    """

    def __init__(self, vocabulary: dict[str, int], dtype=np.float32, max_tokens: int = 400_000):
        self.vocabulary = vocabulary
        self.dtype = dtype
        self.known = list(dict.fromkeys(t for f in vocabulary for t in self._parts(f)))
        self.max_tokens = len(self.known) + max_tokens
        self._reset()

    @staticmethod
    def _parts(feature: str) -> list[str]:
        return [feature]

    def _reset(self) -> None:
        self.index: dict[str, int] = {}
        self._grow(self.known)

    def _grow(self, tokens: list[str]) -> None:
        for t in tokens:
            self.index[t] = len(self.index)

    def ids(self, docs) -> tuple[np.ndarray, np.ndarray]:
        """Token numbers of all documents, flat, and the offsets where each document starts."""
        flat = list(chain.from_iterable(docs))
        ids = np.fromiter(map(self.index.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
        missing = np.flatnonzero(ids < 0)
        if len(missing):
            new = list(dict.fromkeys(flat[k] for k in missing))
            if len(self.index) + len(new) <= self.max_tokens:
                self._grow(new)
                ids[missing] = [self.index[flat[k]] for k in missing]
            else:  # start afresh: numbers of tokens added earlier are gone, so number the batch again
                self._reset()
                self._grow([t for t in dict.fromkeys(flat) if t not in self.index])
                ids = np.fromiter(map(self.index.__getitem__, flat), dtype=np.int64, count=len(flat))
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in docs], out=indptr[1:])
        return ids, indptr

    def _csr(self, rows, cols, n_docs) -> sparse.csr_matrix:
        n_features = len(self.vocabulary)
        keys, counts = np.unique(rows * n_features + cols, return_counts=True)
        indptr = np.searchsorted(keys, np.arange(n_docs + 1, dtype=np.int64) * n_features)
        return sparse.csr_matrix((counts.astype(self.dtype), (keys % n_features).astype(np.int32), indptr),
                                 shape=(n_docs, n_features))


class WordTable(_TokenTable):
    """Unigram and bigram counts: unigrams by table lookup, bigrams by a sorted search of number pairs."""

    _SHIFT = np.int64(1 << 24)

    @staticmethod
    def _parts(feature: str) -> list[str]:
        return feature.split(" ")

    def _grow(self, tokens: list[str]) -> None:
        start = len(self.index)
        super()._grow(tokens)
        get = self.vocabulary.get
        new = np.fromiter((get(t, -1) for t in tokens), dtype=np.int64, count=len(tokens))
        self.unigram = new if start == 0 else np.concatenate([self.unigram, new])
        if start == 0:  # the vocabulary's bigrams, as sorted (first, second) number pairs
            pairs = [(f.split(" "), i) for f, i in self.vocabulary.items() if " " in f]
            keys = np.array([self.index[a] * self._SHIFT + self.index[b] for (a, b), _ in pairs], dtype=np.int64)
            order = np.argsort(keys)
            self.bigram_keys = keys[order]
            self.bigram_ids = np.array([i for _, i in pairs], dtype=np.int64)[order]

    def counts(self, docs) -> sparse.csr_matrix:
        ids, indptr = self.ids(docs)
        n_docs = len(docs)
        row = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(indptr))
        uni = self.unigram[ids]
        keep = uni >= 0
        rows, cols = [row[keep]], [uni[keep]]
        if len(self.bigram_keys) and len(ids) > 1:
            first = np.ones(len(ids), dtype=bool)
            first[indptr[1:-1][indptr[1:-1] < len(ids)]] = False  # a bigram never spans two documents
            pair = np.flatnonzero(first[1:])  # positions i with i+1 in the same document
            keys = ids[pair] * self._SHIFT + ids[pair + 1]
            pos = np.minimum(np.searchsorted(self.bigram_keys, keys), len(self.bigram_keys) - 1)
            hit = self.bigram_keys[pos] == keys
            rows.append(row[pair[hit]])
            cols.append(self.bigram_ids[pos[hit]])
        return self._csr(np.concatenate(rows), np.concatenate(cols), n_docs)


class CharTable(_TokenTable):
    """Character n-gram counts: one row of counts per distinct token, one sparse product per batch."""

    def __init__(self, vocabulary, features_of, dtype=np.float32, max_tokens: int = 400_000):
        self.features_of = features_of
        super().__init__(vocabulary, dtype, max_tokens)

    @staticmethod
    def _parts(feature: str) -> list[str]:
        return []  # char n-grams are not tokens: the table fills with tokens as they come

    def _grow(self, tokens: list[str]) -> None:
        start = len(self.index)
        super()._grow(tokens)
        get = self.vocabulary.get
        cols: list[int] = []
        indptr = [0]
        for tok in tokens:
            cols.extend(i for i in map(get, self.features_of(tok)) if i is not None)
            indptr.append(len(cols))
        rows = sparse.csr_matrix((np.ones(len(cols), dtype=self.dtype), np.asarray(cols, dtype=np.int32),
                                  np.asarray(indptr, dtype=np.int64)), shape=(len(tokens), len(self.vocabulary)))
        rows.sum_duplicates()
        self.matrix = rows if start == 0 else sparse.vstack([self.matrix, rows], format="csr")

    def counts(self, docs) -> sparse.csr_matrix:
        ids, indptr = self.ids(docs)
        D = sparse.csr_matrix((np.ones(len(ids), dtype=self.dtype), ids, indptr),
                              shape=(len(docs), len(self.index)))
        return (D @ self.matrix).tocsr()


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
    ``cv_scores_``. ``recovery_window`` (tokens) makes recovery of a long text
    the highest probability over the text and its windows (see
    :func:`pool_recovery`).

    >>> clf = ComplaintClassifier(cv=0, min_df=1).fit(
    ...     ["не дозвониться", "приложение вылетает", "спасибо"], [[1,0,0,0,0],[0,0,1,0,1],[0,0,0,0,0]])
    >>> clf.predict(["опять вылетает приложение"]).shape
    (1, 5)
    """

    def __init__(self, preprocessor: RussianPreprocessor | None = None, ngram_range: tuple[int, int] = (1, 2),
                 min_df: int = 2, max_df: float = 0.5, char_ngrams: tuple[int, int] | None = (2, 5),
                 recovery_window: int | None = 30, C: float = 4.0, class_weight: str | None = "balanced",
                 cv: int = 5, n_jobs: int | None = None, random_state: int = 0):
        self.preprocessor = preprocessor
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.char_ngrams = char_ngrams
        self.recovery_window = recovery_window
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
        self.__dict__.pop("_stacked_cache", None)
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
                delayed(_fit_fold)(self._head(), docs, Y, train, test, self.recovery_window)
                for train, test in folds)
            for (_, test), probs in zip(folds, fold_probs):
                P[test] = probs
            from sklearn.metrics import f1_score

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
        """Probabilities (n × 5) for texts already turned into token lists.

        The five logistic regressions run as one sparse × dense product (one
        pass over the features instead of five); recovery is pooled over
        windows as in :func:`pool_recovery`.
        """
        check_is_fitted(self, "head_")
        if not docs:
            return np.zeros((0, len(self.labels_)))
        return pool_recovery(self._predict_docs, docs, self.recovery_window)

    def _predict_docs(self, docs: list[list[str]]) -> np.ndarray:
        stacked = self._stacked()
        if stacked is None:  # a label constant in training has no regression to stack
            return self.head_.predict_proba(docs)
        X = self.head_.named_steps["features"].transform(docs)
        coef, intercept = stacked
        return expit(X @ coef + intercept)

    def _stacked(self) -> tuple[np.ndarray, np.ndarray] | None:
        cached = self.__dict__.get("_stacked_cache")
        if cached is None:
            ests = self.head_.named_steps["clf"].estimators_
            if not all(hasattr(e, "coef_") for e in ests):
                return None
            coef = np.column_stack([np.ravel(e.coef_) for e in ests]).astype(np.float64)
            intercept = np.array([float(np.ravel(e.intercept_)[0]) for e in ests])
            cached = self.__dict__["_stacked_cache"] = (coef, intercept)
        return cached

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_stacked_cache", None)
        return state

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Probabilities (n × 5), columns in the order of ``labels_``."""
        check_is_fitted(self, "head_")
        return self.predict_proba_docs(self.preprocessor_.transform(X))

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """0/1 decisions (n × 5) at the cross-validated thresholds."""
        return (self.predict_proba(X) >= self.thresholds_).astype(np.int8)

    def feature_weights(self, doc: list[str]) -> dict[str, list[tuple[str, float]]]:
        """Per label, each feature present in one token list with its push on it (tf-idf × coef)."""
        features = self.head_.named_steps["features"]
        row = sparse.csr_matrix(features.transform([doc]))
        names = features.get_feature_names_out()[row.indices]
        out = {}
        for label, est in zip(self.labels_, self.head_.named_steps["clf"].estimators_):
            coef = np.ravel(getattr(est, "coef_", np.zeros(row.shape[1])))[row.indices]
            out[label] = [(str(n), float(w)) for n, w in zip(names, row.data * coef)]
        return out
