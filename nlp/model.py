"""Features and classifiers: lemma TF-IDF into one logistic regression per label."""
from __future__ import annotations

from typing import Sequence

import numpy as np
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


def _join(tokens: Sequence[str]) -> str:
    return " ".join(tokens)


class TokenTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` for token lists whose ``transform`` counts in bulk.

    Fitting is scikit-learn's own. ``transform`` looks every n-gram up with one
    C-level ``map`` and lets scipy sum duplicates, instead of the per-feature
    Python counting loop of ``CountVectorizer``: the same matrix, about twice
    as fast, and this is the hot path of tagging.
    """

    def transform(self, raw_documents):
        check_is_fitted(self, "vocabulary_")
        analyze = self.build_analyzer()
        get = self.vocabulary_.get
        indices: list[int] = []
        indptr = [0]
        for doc in raw_documents:
            indices.extend(i for i in map(get, analyze(doc)) if i is not None)
            indptr.append(len(indices))
        X = sparse.csr_matrix((np.ones(len(indices), dtype=self.dtype), np.asarray(indices, dtype=np.int32),
                               np.asarray(indptr, dtype=np.int64)), shape=(len(indptr) - 1, len(self.vocabulary_)))
        X.sum_duplicates()
        if self.binary:
            X.data.fill(1)
        return self._tfidf.transform(X, copy=False)


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
                 min_df: int = 2, max_df: float = 0.5, char_ngrams: tuple[int, int] | None = None,
                 C: float = 4.0, class_weight: str | None = "balanced", cv: int = 5, random_state: int = 0):
        self.preprocessor = preprocessor
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.char_ngrams = char_ngrams
        self.C = C
        self.class_weight = class_weight
        self.cv = cv
        self.random_state = random_state

    def _head(self) -> Pipeline:
        """Token lists → labels: the part that cross-validation refits per fold."""
        words = TokenTfidfVectorizer(analyzer=NgramAnalyzer(self.ngram_range), min_df=self.min_df,
                                max_df=self.max_df, sublinear_tf=True, dtype=np.float32)
        features = words
        if self.char_ngrams:
            chars = Pipeline([
                ("join", _Joiner()),
                ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngrams),
                                          min_df=self.min_df, max_df=self.max_df, sublinear_tf=True,
                                          dtype=np.float32)),
            ])
            features = FeatureUnion([("words", words), ("chars", chars)])
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear",
                                random_state=self.random_state)
        return Pipeline([("features", features), ("clf", OneVsRestClassifier(lr))])

    def fit(self, X: Sequence[str], Y) -> "ComplaintClassifier":
        """Learn from texts ``X`` and the label matrix ``Y`` (n × 5)."""
        Y = np.asarray(Y, dtype=np.int8)
        if Y.ndim != 2 or Y.shape[1] != len(LABELS) or Y.shape[0] != len(X):
            raise ValueError(f"Y must be an n×{len(LABELS)} 0/1 matrix (columns {LABELS}) with one row per text")
        self.preprocessor_ = clone(self.preprocessor) if self.preprocessor is not None else RussianPreprocessor()
        docs = self.preprocessor_.fit_transform(X)
        self.labels_ = list(LABELS)
        self.thresholds_ = np.full(len(LABELS), 0.5)
        self.cv_scores_ = None
        if self.cv and self.cv > 1:
            P = np.zeros(Y.shape, dtype=float)
            folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
            for train, test in folds.split(docs):
                head = self._head().fit([docs[i] for i in train], Y[train])
                P[test] = head.predict_proba([docs[i] for i in test])
            self.thresholds_ = best_thresholds(Y, P)
            pred = P >= self.thresholds_
            self.cv_scores_ = {
                "folds": int(self.cv),
                "f1": {lab: round(float(f1_score(Y[:, j], pred[:, j], zero_division=0)), 4)
                       for j, lab in enumerate(LABELS)},
                "cause_macro_f1": round(float(f1_score(Y[:, :-1], pred[:, :-1], average="macro",
                                                       zero_division=0)), 4),
            }
        self.head_ = self._head().fit(docs, Y)
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


class _Joiner(BaseEstimator):
    """Token lists back to one string, for character n-grams over lemmas."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [_join(t) for t in X]

    def get_feature_names_out(self, input_features=None):
        return input_features
