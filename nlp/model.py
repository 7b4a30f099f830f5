"""Training side, as scikit-learn estimators: texts → token lists → TF-IDF → one logistic regression per label.

:class:`ComplaintClassifier` is what is fitted and cross-validated; its
:meth:`~ComplaintClassifier.scorer` is the tagging form a model file holds
(:mod:`nlp.scoring`).
"""
from __future__ import annotations

from functools import lru_cache
from itertools import chain
from typing import Iterable, Sequence

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from .labels import LABELS
from .text import (NEGATIONS, CharNgramAnalyzer, NgramAnalyzer, bind_negations, cached_lemma, chunk_tokens,
                   normalize)

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


def cv_folds(n: int, k: int, groups=None, random_state: int = 0) -> tuple[list, bool]:
    """``k`` (train, test) index pairs over ``n`` rows, and whether they keep groups whole.

    Groups stay whole when there are at least ``k`` of them; otherwise the
    rows are shuffled into ``k`` folds.

    >>> folds, grouped = cv_folds(6, 2, groups=["a", "a", "b", "b", "c", "c"])
    >>> grouped, sorted(map(len, (test for _, test in folds)))
    (True, [2, 4])
    """
    rows = np.arange(n)
    if groups is not None and len(set(groups)) >= k:
        return list(GroupKFold(k).split(rows, groups=list(groups))), True
    return list(KFold(k, shuffle=True, random_state=random_state).split(rows)), False


def _fit_fold(head: Pipeline, docs, Y, train, test, window) -> np.ndarray:
    head.fit([docs[i] for i in train], Y[train])
    return pool_recovery(head.predict_proba, [docs[i] for i in test], window)


class RussianPreprocessor(TransformerMixin, BaseEstimator):
    """Texts in, token lists out: normalise, tokenise (razdel), lemmatise (pymorphy3).

    «не»/«ни» are bound to the next word so that «не перезвонили» becomes
    ``не_перезвонить`` and never counts as «перезвонили». Results are cached
    per whitespace chunk and per word (bounded LRU); the caches change speed,
    never output.

    >>> RussianPreprocessor().transform(["Мне так и не перезвонили!"])
    [['я', 'так', 'и', 'не_перезвонить+past', '!']]
    """

    def __init__(self, negation: bool = True, verb_forms: bool = True, chunk_cache_size: int = 262_144,
                 lemma_cache_size: int = 131_072):
        self.negation = negation
        self.verb_forms = verb_forms
        self.chunk_cache_size = chunk_cache_size
        self.lemma_cache_size = lemma_cache_size

    def fit(self, X: Iterable[str], y=None) -> "RussianPreprocessor":
        """Stateless: nothing is learnt from the data."""
        return self

    def _chunker(self):
        # Built lazily and dropped on pickling: an lru_cache is neither
        # picklable nor worth shipping inside a model file.
        fn = self.__dict__.get("_chunk_fn")
        if fn is None:
            lem = cached_lemma(self.verb_forms, self.lemma_cache_size)
            fn = self.__dict__["_chunk_fn"] = lru_cache(maxsize=self.chunk_cache_size)(
                lambda c: chunk_tokens(c, lem))
        return fn

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_chunk_fn", None)
        return state

    def tokens(self, text: str) -> list[str]:
        """Token list of one text.

        >>> RussianPreprocessor().tokens("Робот не соединяет с оператором")
        ['робот', 'не_соединять+pres', 'с', 'оператор']
        """
        tokens = list(chain.from_iterable(map(self._chunker(), normalize(text).split())))
        if self.negation and not NEGATIONS.isdisjoint(tokens):
            return bind_negations(tokens)
        return tokens

    def transform(self, X: Iterable[str]) -> list[list[str]]:
        """One token list per text."""
        tokens = self.tokens
        return [tokens(x) for x in X]

    def cache_info(self) -> dict[str, int]:
        """Hits and misses of the chunk cache, for profiling."""
        info = self._chunker().cache_info()
        return {"hits": info.hits, "misses": info.misses, "size": info.currsize}


class CharNgramTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF of the character n-grams of each token, counted once per distinct token.

    The same matrix, vocabulary and ``idf_`` as
    ``TfidfVectorizer(analyzer=CharNgramAnalyzer(ngram_range), min_df=…, max_df=…,
    sublinear_tf=True, dtype=float32)``, but a text's n-gram counts are its
    token counts times each token's n-grams (one sparse product), so a word
    is cut into n-grams once per batch instead of once per occurrence — the
    slow part of training.

    >>> CharNgramTfidf((3, 3), min_df=1).fit([["сбой", "сбой"], ["бой"]]).get_feature_names_out().tolist()
    [' бо', ' сб', 'бой', 'ой ', 'сбо']
    """

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), min_df: int | float = 2,
                 max_df: int | float = 1.0, dtype=np.float32):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.dtype = dtype

    @property
    def analyzer(self) -> CharNgramAnalyzer:
        """The n-gram cutter (what the tagging form recognises this block by)."""
        return CharNgramAnalyzer(self.ngram_range)

    def _token_counts(self, docs: Sequence[Sequence[str]]) -> tuple[sparse.csr_matrix, list[str]]:
        index: dict[str, int] = {}
        ids = [index.setdefault(t, len(index)) for doc in docs for t in doc]
        indptr = np.concatenate([[0], np.cumsum([len(doc) for doc in docs])])
        D = sparse.csr_matrix((np.ones(len(ids), dtype=self.dtype), ids, indptr), shape=(len(docs), len(index)))
        D.sum_duplicates()
        return D, list(index)

    def _grams(self, tokens: list[str], vocabulary: dict[str, int], grow: bool = False) -> sparse.csr_matrix:
        """Tokens × n-grams counts: ``grow`` adds new n-grams to ``vocabulary``, else they are skipped."""
        analyzer = self.analyzer
        if grow:
            rows = [[vocabulary.setdefault(g, len(vocabulary)) for g in analyzer.grams(t)] for t in tokens]
        else:
            rows = analyzer.known(tokens, vocabulary)
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        cols = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(indptr[-1]))
        M = sparse.csr_matrix((np.ones(len(cols), dtype=self.dtype), cols, indptr),
                              shape=(len(tokens), len(vocabulary)))
        M.sum_duplicates()
        return M

    def fit(self, docs: Sequence[Sequence[str]], y=None) -> "CharNgramTfidf":
        self.fit_transform(docs)
        return self

    def fit_transform(self, docs: Sequence[Sequence[str]], y=None):
        D, tokens = self._token_counts(docs)
        seen: dict[str, int] = {}
        C = (D @ self._grams(tokens, seen, grow=True)).tocsc()
        grams = np.array(list(seen), dtype=object)
        n = len(docs)
        low = self.min_df if isinstance(self.min_df, (int, np.integer)) else self.min_df * n
        high = self.max_df if isinstance(self.max_df, (int, np.integer)) else self.max_df * n
        df = np.diff(C.indptr)
        keep = np.flatnonzero((df >= low) & (df <= high))
        if not len(keep):
            raise ValueError("no character n-gram is left after min_df/max_df; lower min_df or raise max_df")
        keep = keep[np.argsort(grams[keep].astype(str))]  # scikit-learn orders the vocabulary by term
        self.vocabulary_ = {g: i for i, g in enumerate(grams[keep])}
        C = C[:, keep].tocsr()
        C.sort_indices()
        self.tfidf_ = TfidfTransformer(sublinear_tf=True).fit(C)
        return self.tfidf_.transform(C)

    def transform(self, docs: Sequence[Sequence[str]]):
        check_is_fitted(self, "vocabulary_")
        D, tokens = self._token_counts(docs)
        C = (D @ self._grams(tokens, self.vocabulary_)).tocsr()
        C.sort_indices()
        return self.tfidf_.transform(C)

    # TfidfVectorizer's fitted settings, read by the tagging form (nlp.scoring._Block)
    idf_ = property(lambda self: self.tfidf_.idf_)
    sublinear_tf = property(lambda self: self.tfidf_.sublinear_tf)
    norm = property(lambda self: self.tfidf_.norm)
    use_idf = property(lambda self: self.tfidf_.use_idf)
    binary = False

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        return np.array(list(self.vocabulary_), dtype=object)


class NBWeightedLogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression that penalises a feature less the better it tells the classes apart.

    Before the L2-penalised fit each feature is scaled by the magnitude of its
    naive-Bayes log-count ratio, as in NBSVM (Wang & Manning, 2012), blended
    with 1 by ``nb_weight`` (0: plain logistic regression). With a few
    thousand training texts this keeps rare but telling words («автоответчик»)
    from being shrunk as hard as common ones. ``coef_`` is given for the
    unscaled features, so the fitted model predicts as any linear model does.

    >>> clf = NBWeightedLogisticRegression().fit(sparse.csr_matrix([[1., 0], [0, 1], [1, 1]]), [1, 0, 1])
    >>> clf.predict(sparse.csr_matrix([[1., 0]]))
    array([1])
    """

    def __init__(self, nb_weight: float = 0.5, alpha: float = 1.0, C: float = 4.0,
                 class_weight: str | None = "balanced", random_state: int = 0):
        self.nb_weight = nb_weight
        self.alpha = alpha
        self.C = C
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X, y) -> "NBWeightedLogisticRegression":
        X = sparse.csr_matrix(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        present = X.copy()
        present.data[:] = 1
        p = self.alpha + np.asarray(present[y == self.classes_[-1]].sum(axis=0)).ravel()
        q = self.alpha + np.asarray(present[y != self.classes_[-1]].sum(axis=0)).ravel()
        r = np.abs(np.log((p / p.sum()) / (q / q.sum())))
        self.scale_ = 1 + self.nb_weight * (r / r.mean() - 1)
        # the dual problem is the faster one when features outnumber texts, as here
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear", dual=True,
                                max_iter=1000, random_state=self.random_state)
        # scaling the stored values keeps the index order (a product with a diagonal would
        # scramble it, and liblinear would pay for a re-sort)
        scaled = X.astype(np.float64)
        scaled.data *= self.scale_[scaled.indices]
        lr.fit(scaled, y)
        self.coef_ = lr.coef_ * self.scale_
        self.intercept_ = lr.intercept_
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.asarray(X @ self.coef_.ravel()).ravel() + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class LabelwiseClassifier(ClassifierMixin, BaseEstimator):
    """One binary classifier per column of ``Y``, each from its own estimator.

    scikit-learn's ``OneVsRestClassifier`` clones one estimator for every
    label; here causes and recovery may be set differently. A label constant in
    training gets a constant probability.
    """

    def __init__(self, estimators: Sequence[BaseEstimator]):
        self.estimators = estimators

    def fit(self, X, Y) -> "LabelwiseClassifier":
        Y = np.asarray(Y)
        if Y.shape[1] != len(self.estimators):
            raise ValueError(f"Y has {Y.shape[1]} columns for {len(self.estimators)} estimators")
        if sparse.issparse(X):
            X = sparse.csr_matrix(X)
            X.sort_indices()  # once here, not once per label inside liblinear's input check
        self.estimators_ = [ConstantProbability(float(y[0])) if y.min() == y.max() else clone(est).fit(X, y)
                            for est, y in zip(self.estimators, Y.T)]
        return self

    def predict_proba(self, X) -> np.ndarray:
        return np.column_stack([est.predict_proba(X)[:, -1] for est in self.estimators_])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= 0.5).astype(np.int8)


class ConstantProbability:
    """The classifier of a label that never (or always) occurred in training."""

    def __init__(self, p: float):
        self.p = p

    def predict_proba(self, X) -> np.ndarray:
        return np.tile([1 - self.p, self.p], (X.shape[0], 1))


class ComplaintClassifier(ClassifierMixin, BaseEstimator):
    """Russian complaint texts → probabilities of the four causes and of recovery.

    ``Y`` has one 0/1 column per label of :data:`nlp.labels.LABELS` (four
    causes, then recovery). With ``cv`` set, ``fit`` first runs a K-fold
    cross-validation on the training data, picks each label's decision
    threshold for the best out-of-fold F1 and stores those figures in
    ``cv_scores_``. ``recovery_window`` (tokens) makes recovery of a long text
    the highest probability over the text and its windows (see
    :func:`pool_recovery`). ``nb_weight`` (causes) and ``recovery_nb_weight``
    blend naive-Bayes feature weighting into the regressions (see
    :class:`NBWeightedLogisticRegression`); the defaults, like ``C``, are the
    best of a cross-validation grid on ``corpora/``.

    >>> clf = ComplaintClassifier(cv=0, min_df=1).fit(
    ...     ["не дозвониться", "приложение вылетает", "спасибо"], [[1,0,0,0,0],[0,0,1,0,1],[0,0,0,0,0]])
    >>> clf.predict(["опять вылетает приложение"]).shape
    (1, 5)
    """

    def __init__(self, preprocessor: RussianPreprocessor | None = None, ngram_range: tuple[int, int] = (1, 2),
                 min_df: int = 2, max_df: float = 0.5, char_ngrams: tuple[int, int] | None = (2, 5),
                 recovery_window: int | None = 30, C: float = 8.0, class_weight: str | None = "balanced",
                 nb_weight: float = 0.6, recovery_nb_weight: float = 0.6, cv: int = 5, n_jobs: int | None = None,
                 random_state: int = 0):
        self.preprocessor = preprocessor
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.char_ngrams = char_ngrams
        self.recovery_window = recovery_window
        self.C = C
        self.class_weight = class_weight
        self.nb_weight = nb_weight
        self.recovery_nb_weight = recovery_nb_weight
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _head(self) -> Pipeline:
        """Token lists → labels: the part that cross-validation refits per fold."""
        words = TfidfVectorizer(analyzer=NgramAnalyzer(self.ngram_range), min_df=self.min_df,
                                max_df=self.max_df, sublinear_tf=True, dtype=np.float32)
        blocks = [("words", words)]
        if self.char_ngrams:
            blocks.append(("chars", CharNgramTfidf(self.char_ngrams, min_df=self.min_df, max_df=self.max_df)))
        features = blocks[0][1] if len(blocks) == 1 else FeatureUnion(blocks)
        def lr(nb_weight):
            return NBWeightedLogisticRegression(nb_weight=nb_weight, C=self.C, class_weight=self.class_weight,
                                                random_state=self.random_state)

        heads = [lr(self.nb_weight)] * (len(LABELS) - 1) + [lr(self.recovery_nb_weight)]
        return Pipeline([("features", features), ("clf", LabelwiseClassifier(heads))])

    def fit(self, X: Sequence[str], Y, is_complaint=None, groups=None) -> "ComplaintClassifier":
        """Learn from texts ``X`` and the label matrix ``Y`` (n × 5).

        ``is_complaint`` (optional, one bool per text) restricts threshold
        choice and CV scores to complaint rows, the rows the guide scores on;
        every row is still learnt from. ``groups`` (optional, e.g. the source
        file of each text) keeps each group within one fold when there are at
        least ``cv`` groups: texts by one writer share a style and situations,
        and random folds would score the model on its own writers' habits,
        too confident for text from anyone else.
        """
        self.__dict__.pop("_scorer_cache", None)
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
            folds, grouped = cv_folds(len(docs), self.cv, groups, self.random_state)
            # the final fit runs beside the folds: K + 1 equal jobs keep every core busy to the end
            jobs = [delayed(_fit_fold)(self._head(), docs, Y, train, test, self.recovery_window)
                    for train, test in folds] + [delayed(self._head().fit)(docs, Y)]
            *fold_probs, self.head_ = Parallel(n_jobs=self.n_jobs)(jobs)
            for (_, test), probs in zip(folds, fold_probs):
                P[test] = probs
            from sklearn.metrics import f1_score

            scored = np.ones(len(Y), bool) if is_complaint is None else np.asarray(is_complaint, bool)
            Y, P = Y[scored], P[scored]
            self.thresholds_ = best_thresholds(Y, P)
            pred = P >= self.thresholds_
            self.cv_scores_ = {
                "folds": int(self.cv),
                "grouped": bool(grouped),
                "rows": "complaint rows" if is_complaint is not None else "all rows",
                "f1": {lab: round(float(f1_score(Y[:, j], pred[:, j], zero_division=0)), 4)
                       for j, lab in enumerate(LABELS)},
                "cause_macro_f1": round(float(f1_score(Y[:, :-1], pred[:, :-1], average="macro",
                                                       zero_division=0)), 4),
            }
        else:
            self.head_ = self._head().fit(docs, Y)
        return self

    def predict_proba_docs(self, docs: list[list[str]]) -> np.ndarray:
        """Probabilities (n × 5) for texts already turned into token lists (scikit-learn's path).

        :meth:`predict_proba` gives the same numbers for raw texts, faster.
        """
        check_is_fitted(self, "head_")
        if not docs:
            return np.zeros((0, len(self.labels_)))
        return pool_recovery(self.head_.predict_proba, docs, self.recovery_window)

    def stacked_coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """The five regressions as one matrix (features × 5) and one intercept vector.

        A label that was constant in training has no regression: its column
        is zero and its intercept ±inf, so its probability stays that constant.
        """
        check_is_fitted(self, "head_")
        ests = self.head_.named_steps["clf"].estimators_
        n_features = len(self.head_.named_steps["features"].get_feature_names_out())
        coef = np.zeros((n_features, len(ests)))
        intercept = np.zeros(len(ests))
        for j, est in enumerate(ests):
            if hasattr(est, "coef_"):
                coef[:, j] = np.ravel(est.coef_)
                intercept[j] = float(np.ravel(est.intercept_)[0])
            else:  # ConstantProbability
                intercept[j] = np.inf if est.p >= 0.5 else -np.inf
        return coef, intercept

    def scorer(self):
        """The tagging form of this model (:class:`nlp.scoring.BatchScorer`), built on first use.

        It is what a model file holds (see :func:`nlp.train.train`): the same
        numbers as arrays and vocabularies, fast on raw texts, and loadable
        without scikit-learn.
        """
        check_is_fitted(self, "head_")
        scorer = self.__dict__.get("_scorer_cache")
        if not scorer:
            from .scoring import BatchScorer

            scorer = self.__dict__["_scorer_cache"] = BatchScorer(self)
        return scorer

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_scorer_cache", None)  # caches, not knowledge
        return state

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Probabilities (n × 5), columns in the order of ``labels_``."""
        X = list(X)
        if self.__dict__.get("_scorer_cache") is None and isinstance(self.preprocessor_, RussianPreprocessor):
            try:
                self.scorer()
            except ValueError:  # settings the tagging form does not cover (e.g. trigrams)
                self.__dict__["_scorer_cache"] = False
        scorer = self.__dict__.get("_scorer_cache")
        if scorer:
            return scorer.predict_proba(X)
        return self.predict_proba_docs(self.preprocessor_.transform(X))  # e.g. the benchmark's raw words

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """0/1 decisions (n × 5) at the cross-validated thresholds."""
        return (self.predict_proba(X) >= self.thresholds_).astype(np.int8)
