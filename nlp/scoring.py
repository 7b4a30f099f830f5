"""Tagging at speed: a batch of raw texts to probabilities as array work.

:class:`BatchScorer` computes what a fitted :class:`~nlp.model.ComplaintClassifier`
computes through scikit-learn (same tokens, same TF-IDF, same regressions, same
recovery windows; a test compares them), organised for throughput instead of
generality:

* the batch is split into whitespace chunks as one string; each distinct raw
  chunk is normalised, tokenised and lemmatised once and remembered as a
  tuple of token *numbers*, so a batch becomes one integer array after a
  dictionary lookup per chunk; only numbers (a phone spans chunks) are
  scanned in context, all regions of a batch in one call;
* negation binding, unigrams, bigrams and character n-grams are then NumPy
  and SciPy operations on that array: no per-text Python lists, no strings;
* the five logistic regressions are one product per feature block, with
  the TF-IDF weighting and L2 norm applied on the fly;
* it pickles as plain vocabularies and arrays (this is what a model file
  holds), so tagging never imports scikit-learn: cold start is about a second.

The tables grow with the distinct chunks and tokens a log brings and are
bounded: past ``max_tokens`` tokens (or ``max_chunks`` chunks) they start
afresh between batches, which changes speed, never results.
"""
from __future__ import annotations

from itertools import chain, repeat
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy import sparse
from scipy.special import expit

from .text import (DOC_BREAK, SEPARATOR, CharNgramAnalyzer, NgramAnalyzer, cached_lemma, chunk_tokens, has_digit,
                   number_regions, prepare_chunk, replace_numbers)

if TYPE_CHECKING:
    from .model import ComplaintClassifier

_BREAK_ID = 0  # the number of DOC_BREAK: not a word, in no feature


def _numbered(joined: str) -> dict[str, int]:
    """``"a\\nb"`` → ``{"a": 0, "b": 1}``."""
    names = joined.split("\n") if joined else []
    return dict(zip(names, range(len(names))))


class _Growing:
    """A NumPy array that grows by appending, in amortised constant time per item."""

    def __init__(self, dtype):
        self._data = np.zeros(1024, dtype=dtype)
        self.size = 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=self._data.dtype)
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.zeros(max(end, 2 * len(self._data)), dtype=self._data.dtype)
            grown[:self.size] = self._data[:self.size]
            self._data = grown
        self._data[self.size:end] = values
        self.size = end

    @property
    def array(self) -> np.ndarray:
        return self._data[:self.size]


class _Block:
    """One TF-IDF block of the model: its idf, its slice of the regressions' coefficients."""

    def __init__(self, vectorizer, coef: np.ndarray):
        self.vocabulary = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.sublinear = vectorizer.sublinear_tf
        self.coef = coef
        if vectorizer.norm != "l2" or vectorizer.binary or not vectorizer.use_idf:
            raise ValueError("BatchScorer handles l2-normalised, idf-weighted, non-binary TF-IDF only")

    def _weighted(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Sublinear tf × idf, before the L2 norm, as scikit-learn computes them."""
        data = counts.data.astype(np.float64)
        if self.sublinear:
            np.log(data, out=data)
            data += 1
        data *= self.idf[counts.indices]
        return sparse.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)

    def tfidf(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Counts → TF-IDF rows (L2-normalised)."""
        X = self._weighted(counts)
        X.data /= np.repeat(self._norms(X), np.diff(X.indptr))
        return X

    @staticmethod
    def _norms(X: sparse.csr_matrix) -> np.ndarray:
        squares = sparse.csr_matrix((X.data * X.data, X.indices, X.indptr), shape=X.shape)
        norms = np.sqrt(squares @ np.ones(X.shape[1]))
        norms[norms == 0] = 1
        return norms

    def scores(self, counts: sparse.csr_matrix, columns: slice) -> np.ndarray:
        """``tfidf(counts) @ coef``, with the norm applied to the few products, not to every count."""
        X = self._weighted(counts)
        return (X @ self.coef[:, columns]) / self._norms(X)[:, None]

    def names(self) -> np.ndarray:
        """Feature names by column number (built on first use: only explanations need them)."""
        if "_names" not in self.__dict__:
            names = np.empty(len(self.vocabulary), dtype=object)
            names[list(self.vocabulary.values())] = list(self.vocabulary)
            self.__dict__["_names"] = names
        return self.__dict__["_names"]

    # joblib unpickles in pure Python, where a dict of 40,000 strings takes most of a
    # second; one joined string (tokens never hold a line break) takes a millisecond
    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k != "_names"}
        state["vocabulary"] = "\n".join(self.names())
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.vocabulary = _numbered(state["vocabulary"])


class BatchScorer:
    """The tagging form of a trained :class:`~nlp.model.ComplaintClassifier`: raw texts in, probabilities out.

    Holds the model's numbers as vocabularies and arrays, and pickles without
    scikit-learn objects, so a model file loads without importing it (cold
    start). Its tables are caches: rebuilt after unpickling, never saved.

    >>> from nlp import ComplaintTagger
    >>> scorer = ComplaintTagger.load().model
    >>> scorer.predict_proba(["Робот не соединяет с оператором"]).shape
    (1, 5)
    """

    def __init__(self, model: "ComplaintClassifier", max_tokens: int = 400_000, max_chunks: int = 400_000):
        features = model.head_.named_steps["features"]
        named = features.transformer_list if hasattr(features, "transformer_list") else [("words", features)]
        coef, self.intercept = model.stacked_coefficients()
        self.labels = list(model.labels_)
        self.thresholds = np.asarray(model.thresholds_, dtype=float)
        self.blocks: list[_Block] = []
        self.char_analyzer = None
        start = 0
        for _, vec in named:
            end = start + len(vec.vocabulary_)
            self.blocks.append(_Block(vec, coef[start:end]))
            start = end
            if isinstance(vec.analyzer, NgramAnalyzer):
                if vec.analyzer.ngram_range not in ((1, 1), (1, 2)):
                    raise ValueError(f"BatchScorer counts uni- and bigrams only, not {vec.analyzer!r}")
                self.words = self.blocks[-1]
            elif isinstance(vec.analyzer, CharNgramAnalyzer):
                self.chars, self.char_analyzer = self.blocks[-1], vec.analyzer
            else:
                raise ValueError(f"BatchScorer cannot count with {vec.analyzer!r}")
        pre = model.preprocessor_
        self.negation, self.verb_forms, self.lemma_cache_size = pre.negation, pre.verb_forms, pre.lemma_cache_size
        self.window = model.recovery_window
        self.max_tokens, self.max_chunks = max_tokens, max_chunks
        # bigrams as sorted pairs of part numbers: a token's part number is fixed by the
        # vocabulary, so the keys never change when the token table starts afresh
        bigrams = [(f.split(" "), i) for f, i in self.words.vocabulary.items() if " " in f]
        self.parts = {t: k for k, t in enumerate(dict.fromkeys(t for pair, _ in bigrams for t in pair))}
        keys = np.array([self.parts[a] * (1 << 32) + self.parts[b] for (a, b), _ in bigrams], dtype=np.int64)
        order = np.argsort(keys)
        self.bigram_keys = keys[order]
        self.bigram_ids = np.array([i for _, i in bigrams], dtype=np.int64)[order]
        self._static = list(self.__dict__)
        self._reset()

    def __getstate__(self) -> dict:
        state = {k: self.__dict__[k] for k in self._static + ["_static"]}
        state["parts"] = "\n".join(self.parts)  # see _Block.__getstate__
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.parts = _numbered(state["parts"])
        self._reset()

    def _reset(self) -> None:
        if "lemma" not in self.__dict__:  # lemmas do not depend on numbering: kept across restarts
            self.lemma = cached_lemma(self.verb_forms, self.lemma_cache_size)
        self.tokens: dict[str, int] = {}
        self.names: list[str] = []
        self.prepared: dict[str, tuple[int, ...]] = {}  # prepared chunk → token numbers
        self.pairs: dict[tuple[int, int], int] = {}  # (не, word) → не_word
        self.unigram, self.part, self.alpha = _Growing(np.int64), _Growing(np.int64), _Growing(bool)
        self.char_indptr, self.char_indices = _Growing(np.int64), _Growing(np.int32)
        self.char_indptr.extend([0])
        self._add([DOC_BREAK])
        self.negations = [self._add(["не"])[0], self._add(["ни"])[0]]
        self._char_matrix = None
        # Raw chunks and number regions get chunk numbers; a chunk number stands for a
        # sequence of token numbers (CSR-like: start and length), so a batch's token
        # array is one gather. A chunk with digits has no sequence of its own: its
        # tokens depend on its neighbours (a phone spans chunks), see token_ids.
        self.chunks: dict[str, int] = {}  # raw chunk → chunk number
        self.regions: dict[str, int] = {}  # raw number region → chunk number
        self.seq_start, self.seq_len, self.seq_tokens = _Growing(np.int64), _Growing(np.int64), _Growing(np.int64)
        self.is_numeric = _Growing(bool)
        self.chunks[DOC_BREAK] = self._sequences([(_BREAK_ID,)])[0]
        self._empty = self._sequences([()])[0]  # what the later chunks of a number region become

    def _sequences(self, token_seqs: list[tuple[int, ...]], numeric: list[bool] | None = None) -> list[int]:
        """Chunk numbers for new token sequences."""
        first = self.seq_len.size
        lengths = [len(t) for t in token_seqs]
        self.seq_start.extend(self.seq_tokens.size + np.cumsum([0] + lengths[:-1]))
        self.seq_len.extend(lengths)
        self.seq_tokens.extend(list(chain.from_iterable(token_seqs)))
        self.is_numeric.extend(numeric or [False] * len(token_seqs))
        return list(range(first, first + len(token_seqs)))

    def _add(self, tokens: list[str]) -> list[int]:
        """Number new tokens and record what each one is in every feature block."""
        first = len(self.names)
        self.names.extend(tokens)
        numbers = list(range(first, first + len(tokens)))
        self.tokens.update(zip(tokens, numbers))
        self.unigram.extend([self.words.vocabulary.get(t, -1) for t in tokens])
        self.part.extend([self.parts.get(t, -1) for t in tokens])
        self.alpha.extend([t != DOC_BREAK and t[0].isalpha() for t in tokens])
        if self.char_analyzer is not None:
            known = self.char_analyzer.known(tokens, self.chars.vocabulary)
            rows = [[] if t == DOC_BREAK else r for t, r in zip(tokens, known)]
            self.char_indptr.extend(self.char_indices.size + np.cumsum([len(r) for r in rows]))
            self.char_indices.extend(list(chain.from_iterable(rows)))
            self._char_matrix = None
        return numbers

    def _ids_of_prepared(self, prepared: Sequence[str]) -> list[tuple[int, ...]]:
        """Token numbers of prepared text pieces, tokenising and numbering what is new."""
        cache = self.prepared
        pieces = [p.split() for p in prepared]
        new = [c for c in dict.fromkeys(chain.from_iterable(pieces)) if c not in cache]
        if new:
            tokens = [chunk_tokens(c, self.lemma) for c in new]
            index = self.tokens
            self._add([t for t in dict.fromkeys(chain.from_iterable(tokens)) if t not in index])
            for chunk, toks in zip(new, tokens):
                cache[chunk] = tuple(map(index.__getitem__, toks))
        return [tuple(chain.from_iterable(map(cache.__getitem__, p))) for p in pieces]

    def token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token numbers of a batch (negation bound), flat, and the text each belongs to.

        The steps of :meth:`nlp.model.RussianPreprocessor.tokens`, but per
        distinct raw chunk: a chunk seen before costs one dictionary lookup.
        """
        if len(self.names) > self.max_tokens or self.seq_len.size > self.max_chunks:
            self._reset()
        joined = SEPARATOR.join(texts)
        if joined.count(DOC_BREAK) != len(texts) - 1:  # a text holds the separator itself: blank it
            joined = SEPARATOR.join(t.replace(DOC_BREAK, " ") for t in texts)
        chunks = joined.split()
        cid = self._lookup(self.chunks, chunks, self._new_chunks)
        numeric = self.is_numeric.array[cid]
        if numeric.any():
            self._number_regions(chunks, cid, numeric)
        # one gather: the token numbers of every chunk, in order
        lengths = self.seq_len.array[cid]
        ends = np.cumsum(lengths)
        ids = self.seq_tokens.array[np.repeat(self.seq_start.array[cid] - ends + lengths, lengths)
                                    + np.arange(ends[-1] if len(ends) else 0)]
        if self.negation:
            ids = self._bind_negations(ids)
        breaks = ids == _BREAK_ID
        rows = np.cumsum(breaks)
        return ids[~breaks], rows[~breaks]

    @staticmethod
    def _lookup(table: dict[str, int], keys: list[str], add) -> np.ndarray:
        """Numbers of ``keys`` in ``table``; ``add(new_keys)`` numbers the ones it lacks."""
        numbers = np.fromiter(map(table.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
        missing = np.flatnonzero(numbers < 0).tolist()
        if missing:
            new = list(dict.fromkeys([keys[i] for i in missing]))
            table.update(zip(new, add(new)))
            numbers[missing] = [table[keys[i]] for i in missing]
        return numbers

    def _new_chunks(self, chunks: list[str]) -> list[int]:
        prepared = list(map(prepare_chunk, chunks))
        numeric = [has_digit(p) for p in prepared]
        # a chunk with digits gets no tokens of its own: its number region gets them
        return self._sequences(self._ids_of_prepared(["" if n else p for p, n in zip(prepared, numeric)]), numeric)

    def _number_regions(self, chunks: list[str], cid: np.ndarray, numeric: np.ndarray) -> None:
        """Each run of chunks with digits, with the chunk after it, becomes one chunk number."""
        starts, ends = number_regions(numeric, cid == self.chunks[DOC_BREAK])
        keys = [" ".join(chunks[a:b]) for a, b in zip(starts.tolist(), ends.tolist())]
        inside = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.add.at(inside, starts + 1, 1)
        np.add.at(inside, ends, -1)
        cid[np.cumsum(inside[:-1]) > 0] = self._empty
        cid[starts] = self._lookup(self.regions, keys, self._new_regions)

    def _new_regions(self, regions: list[str]) -> list[int]:
        # nlp.text.normalize does the same per text; here all new regions of a batch are
        # scanned in one call, separated so that no pattern runs from one into the next
        prepared = [" ".join(map(prepare_chunk, r.split())) for r in regions]
        replaced = replace_numbers(SEPARATOR.join(prepared)).split(SEPARATOR)
        return self._sequences(self._ids_of_prepared(replaced))

    def _bind_negations(self, ids: np.ndarray) -> np.ndarray:
        """:func:`nlp.text.bind_negations` on numbers: «не» + a word → the number of «не_word»."""
        at = np.flatnonzero(np.isin(ids, self.negations))
        if not len(at):
            return ids
        alpha = self.alpha.array
        drop = np.zeros(len(ids), dtype=bool)
        consumed = -1
        for p in at.tolist():
            q = p + 1
            if p == consumed or q == len(ids) or not alpha[ids[q]]:
                continue
            key = (int(ids[p]), int(ids[q]))
            bound = self.pairs.get(key)
            if bound is None:
                name = self.names[key[0]] + "_" + self.names[key[1]]
                bound = self.pairs[key] = self.tokens.get(name) or self._add([name])[0]
            ids[q] = bound
            drop[p] = True
            consumed = q
        return ids[~drop]

    def _counts(self, ids: np.ndarray, rows: np.ndarray, n_rows: int) -> list[tuple[_Block, sparse.csr_matrix]]:
        """Feature counts of each block for the texts (or windows) numbered by ``rows`` (non-decreasing)."""
        # words: unigrams by table lookup, bigrams by a sorted search of part-number pairs
        uni = self.unigram.array[ids]
        keep = uni >= 0
        r, c = [rows[keep]], [uni[keep]]
        if len(self.bigram_keys) and len(ids) > 1:
            part = self.part.array[ids]
            a, b = part[:-1], part[1:]
            pair = np.flatnonzero((a >= 0) & (b >= 0) & (rows[:-1] == rows[1:]))
            keys = a[pair] * (1 << 32) + b[pair]
            pos = np.minimum(np.searchsorted(self.bigram_keys, keys), len(self.bigram_keys) - 1)
            hit = self.bigram_keys[pos] == keys
            r.append(rows[pair[hit]])
            c.append(self.bigram_ids[pos[hit]])
        n_words = len(self.words.vocabulary)
        keys, counts = np.unique(np.concatenate(r) * n_words + np.concatenate(c), return_counts=True)
        out = [(self.words, sparse.csr_matrix(
            (counts.astype(np.float64), keys % n_words, np.searchsorted(keys, np.arange(n_rows + 1) * n_words)),
            shape=(n_rows, n_words)))]
        if self.char_analyzer is not None:
            # chars: one row of n-gram counts per token, summed per text by one sparse product
            indptr = np.zeros(n_rows + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
            # float32: counts are small whole numbers, and the product moves half the bytes
            D = sparse.csr_matrix((np.ones(len(ids), dtype=np.float32), ids, indptr),
                                  shape=(n_rows, len(self.names)))
            out.append((self.chars, (D @ self._chars()).tocsr()))
        return out

    def _logits(self, ids: np.ndarray, rows: np.ndarray, n_rows: int, columns: slice) -> np.ndarray:
        """Regression logits of the texts (or windows) numbered by ``rows``."""
        S = np.tile(self.intercept[columns], (n_rows, 1))
        for block, counts in self._counts(ids, rows, n_rows):
            S += block.scores(counts, columns)
        return S

    def _chars(self) -> sparse.csr_matrix:
        if self._char_matrix is None:
            self._char_matrix = sparse.csr_matrix(
                (np.ones(self.char_indices.size, dtype=np.float32), self.char_indices.array,
                 self.char_indptr.array),
                shape=(len(self.names), len(self.chars.vocabulary)))
        return self._char_matrix

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities (n × 5), as :meth:`ComplaintClassifier.predict_proba` gives them."""
        if not len(texts):
            return np.zeros((0, len(self.intercept)))
        ids, rows = self.token_ids(texts)
        n = len(texts)
        S = self._logits(ids, rows, n, slice(None))
        if self.window:
            # recovery of a text longer than two windows: the best of the text and its
            # windows (nlp.model.pool_recovery); windows are numbered after each other
            lengths = np.bincount(rows, minlength=n)
            long = lengths > 2 * self.window
            if long.any():
                starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
                at = np.flatnonzero(long[rows])
                n_windows = np.where(long, -(-lengths // self.window), 0)
                first = np.concatenate([[0], np.cumsum(n_windows)[:-1]])
                window_rows = first[rows[at]] + (at - starts[rows[at]]) // self.window
                best = self._logits(ids[at], window_rows, int(n_windows.sum()), slice(-1, None))[:, 0]
                S[long, -1] = np.maximum(S[long, -1], np.maximum.reduceat(best, first[long]))
        return expit(S)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """0/1 decisions (n × 5) at the model's cross-validated thresholds."""
        return (self.predict_proba(texts) >= self.thresholds).astype(np.int8)

    def explain(self, text: str) -> tuple[np.ndarray, dict[str, list[tuple[str, float]]]]:
        """Probabilities of one text, and per label each feature in it with its push (tf-idf × coefficient).

        >>> from nlp import ComplaintTagger
        >>> P, pushes = ComplaintTagger.load().model.explain("Мне так и не перезвонили")
        >>> max(pushes["missing_rep"], key=lambda fw: fw[1])[0]
        'не_перезвонить+past'
        """
        ids, rows = self.token_ids([text])
        pushes: dict[str, list[tuple[str, float]]] = {label: [] for label in self.labels}
        for block, counts in self._counts(ids, rows, 1):
            row = block.tfidf(counts)
            names = block.names()[row.indices]
            for j, label in enumerate(self.labels):
                pushes[label] += zip(names.tolist(), (row.data * block.coef[row.indices, j]).tolist())
        return self.predict_proba([text])[0], pushes
