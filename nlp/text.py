"""Russian text processing: normalisation, razdel tokens, pymorphy3 lemmas, negation.

Plain functions, free of scikit-learn so that tagging never imports it:
:class:`nlp.model.RussianPreprocessor` wraps them as a transformer for
training, :class:`nlp.scoring.BatchScorer` runs them per distinct chunk for
tagging. :class:`NgramAnalyzer` and :class:`CharNgramAnalyzer` turn token
lists into TF-IDF features.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import chain
from typing import Sequence

import numpy as np

from razdel import tokenize

# Placeholders are written as `_name_`: razdel keeps them whole and pymorphy3 is
# never asked about them, so PII never reaches the vocabulary. Each pattern runs
# only when one of its cheap substrings is in the text: most texts skip most scans.
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("@",), re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]*\w"), " _email_ "),
    (("http", "www."), re.compile(r"(?:https?://|www\.)\S+"), " _url_ "),
    ((".ru", ".ру", ".com", ".рф", ".net", ".org"),
     re.compile(r"\b[\w-]+\.(?:ru|ру|com|рф|net|org)(?:/\S*)?\b"), " _url_ "),
    (("@",), re.compile(r"@\w+"), " _user_ "),
    (("*",), re.compile(r"\w*\*{2,}\w*"), " _mask_ "),
)
# Numbers: one scan for cards, phones, dates, sums and plain numbers, in that
# order of preference (alternation tries the branches left to right). The
# leading lookahead lets the scan skip most positions at once: 6x faster.
_NUMBERS = re.compile(
    r"(?=[\d+*xх])(?:"
    r"(?P<card>\b(?:\d{4}[ -]?){3}\d{4,7}\b|(?:\*{1,4}|х{4}|x{4})\d{4}\b)"
    r"|(?P<phone>(?:\+7|\b8)[\s(-]*\d{3}[\s)-]*[\dx]{3}[\s-]*[\dx]{2}[\s-]*[\dx]{2}\b|\+7\s?9\w\w\b)"
    r"|(?P<date>\b\d{1,2}[./]\d{1,2}[./](?:\d{4}|\d{2})\b)"
    r"|(?P<money>\d[\d ]*(?:[.,]\d+)?\s*(?:руб\w*|р\b\.?|₽|\$|€|usd|евро|долл\w*|тыс\w*|т\.р\.|к\b))"
    r"|(?P<num>\d+(?:[.,]\d+)*))"
)
_DIGIT = re.compile(r"\d")
# one scan tells whether any of the patterns above can match at all (most texts: none can)
_TRIGGER = re.compile("|".join(re.escape(n) for needles, *_ in _PATTERNS for n in needles))
PLACEHOLDERS = frozenset([p.strip() for *_, p in _PATTERNS] + [f"_{g}_" for g in _NUMBERS.groupindex])


def _number_placeholder(m: re.Match) -> str:
    return f" _{m.lastgroup}_ "


_REPEATS = re.compile(r"(\W)\1+")
NEGATIONS = frozenset({"не", "ни"})


#: Separates texts in a batch joined into one string: a private-use character,
#: so no pattern above matches it and ``str.split`` keeps it as a chunk of its own.
DOC_BREAK = "\ue000"
SEPARATOR = f"\n{DOC_BREAK}\n"


def prepare_chunk(chunk: str) -> str:
    """One whitespace-free piece of raw text: NFC, lower case, ё→е, PII patterns replaced.

    Every PII pattern lies within one such piece, so this is the whole of
    normalisation except numbers (:func:`normalize`). Placeholders come
    padded with spaces: the result may be several chunks.

    >>> prepare_chunk("ПИШИТЕ:a.b@mail.ru")
    'пишите: _email_ '
    """
    if not chunk.isascii() and not unicodedata.is_normalized("NFC", chunk):
        chunk = unicodedata.normalize("NFC", chunk)
    chunk = chunk.lower().replace("ё", "е")
    if _TRIGGER.search(chunk):
        for needles, pattern, placeholder in _PATTERNS:
            if any(n in chunk for n in needles):
                chunk = pattern.sub(placeholder, chunk)
    return chunk


def has_digit(prepared: str) -> bool:
    """Whether a prepared chunk needs the number scan (and so its neighbours)."""
    return _DIGIT.search(prepared) is not None


def replace_numbers(region: str) -> str:
    """Cards, phones, dates, sums and other numbers in a stretch of prepared text → placeholders."""
    return _NUMBERS.sub(_number_placeholder, region)


def number_regions(numeric: Sequence[bool], stops: Sequence[bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Where the number scan runs: each maximal run of chunks with digits, plus the chunk after it.

    A phone or a card spans several chunks, all with digits; a sum ends in the
    chunk after its digits («500 руб.»). No pattern starts in a chunk without
    digits, so the rest of a text never needs the scan. ``numeric`` marks the
    chunks with digits, one flag per chunk; ``stops`` marks chunks that must
    not be taken as the chunk after (the text breaks of a batch). Returns the
    start and (exclusive) end chunk of every region.

    >>> number_regions([False, False, True, True, False, False, False, True])
    (array([2, 7]), array([5, 8]))
    """
    at = np.flatnonzero(np.asarray(numeric, dtype=bool))
    if not len(at):
        return at, at
    gap = np.diff(at) > 1
    starts = at[np.concatenate([[True], gap])]
    ends = at[np.concatenate([gap, [True]])] + 1
    has_next = ends < len(numeric)
    if stops is not None:
        has_next[has_next] = ~np.asarray(stops, dtype=bool)[ends[has_next]]
    return starts, ends + has_next


def normalize(text: str) -> str:
    """Lower-case, NFC, ё→е, and PII / numbers replaced by placeholder tokens, chunks joined by spaces.

    >>> normalize("Звонила на +7 (912) 345-67-89, списали 4 500 руб. 12.03.2024").split()
    ['звонила', 'на', '_phone_', ',', 'списали', '_money_', '.', '_date_']
    """
    # the batch separator counts as a space, in one text as in a batch (nlp.scoring)
    chunks = [prepare_chunk(c) for c in text.replace(DOC_BREAK, " ").split()]
    starts, ends = number_regions([has_digit(c) for c in chunks])
    for start, end in zip(starts[::-1].tolist(), ends[::-1].tolist()):
        chunks[start:end] = [replace_numbers(" ".join(chunks[start:end]))]
    return " ".join(chunks)


def _is_punct(token: str) -> bool:
    """Whether every character is punctuation (true of an empty string)."""
    return all(unicodedata.category(ch)[0] == "P" for ch in token)


_MORPH = None


def _morph():
    # One analyzer per process: loading the dictionaries costs ~0.3 s and
    # ~15 MB, and the analyzer is read-only, so every preprocessor shares it.
    global _MORPH
    if _MORPH is None:
        import pymorphy3

        _MORPH = pymorphy3.MorphAnalyzer()
    return _MORPH


_VERB_FORMS = {"past": "+past", "futr": "+futr", "pres": "+pres"}
# Abbreviations pymorphy3 would misread («мин» → «мина»).
ABBREVIATIONS = {"мин": "минута", "сек": "секунда", "ч": "час", "руб": "рубль", "р": "рубль",
                 "тп": "техподдержка", "лк": "кабинет", "смс": "смс", "sms": "смс", "зп": "зарплата",
                 "сим": "симка", "симку": "симка", "симки": "симка", "инет": "интернет", "тех": "технический"}


def lemma(word: str, verb_forms: bool = False) -> str:
    """The pymorphy3 normal form of one lower-case word, with ё→е.

    With ``verb_forms`` a finite verb keeps its tense or mood: «вернули»
    (done: recovery) and «верните» (a demand) must not both become «вернуть».

    >>> lemma("перезвонили"), lemma("перезвонили", True), lemma("верните", True), lemma("вернут", True)
    ('перезвонить', 'перезвонить+past', 'вернуть+impr', 'вернуть+futr')
    >>> lemma("приложени")  # unknown to the dictionary: kept as written
    'приложени'

    """
    if word in ABBREVIATIONS:
        return ABBREVIATIONS[word]
    morph = _morph()
    if not morph.word_is_known(word):
        # pymorphy3's guess for an unknown word (mostly typos: «приложени» → «приложенить»)
        # costs 5× a dictionary lookup and is usually wrong; the word itself, with its
        # character n-grams, is the better feature
        return word
    p = morph.parse(word)[0]
    base = p.normal_form.replace("ё", "е")
    if verb_forms and p.tag.POS == "VERB":
        if p.tag.mood == "impr":
            return base + "+impr"
        return base + _VERB_FORMS.get(p.tag.tense, "")
    return base


def cached_lemma(verb_forms: bool, maxsize: int):
    """:func:`lemma` with ``verb_forms`` fixed, behind a bounded LRU cache (words recur)."""
    return lru_cache(maxsize=maxsize)(lambda word: lemma(word, verb_forms))


_WORD_IN_PUNCT = re.compile(r"([^\w\s]*)([^\W\d_]+)([^\w\s]*)")


def _marks(punct: str) -> tuple[str, ...]:
    """The «?» and «!» a run of punctuation holds, once each."""
    return (("?",) if "?" in punct else ()) + (("!",) if "!" in punct else ())


def chunk_tokens(chunk: str, lemmatize=lemma) -> tuple[str, ...]:
    """Tokens of one whitespace-free chunk of normalised text.

    Words become lemmas, placeholders stay, punctuation is dropped except «?»
    and «!» (questions and exclamations tell complaints from inquiries),
    emoji and other symbols stay with repeats collapsed.

    >>> chunk_tokens("перезвонили?!")
    ('перезвонить', '?', '!')
    """
    if chunk in PLACEHOLDERS:
        # normalize() pads placeholders with spaces, so each is a chunk of its own
        return (chunk,)
    # Most chunks are a bare word, or a word in punctuation («слово»), «(слово», «слово?!»):
    # razdel would split exactly there, so skip it (it is the slow part of a miss).
    if chunk.isalpha():
        return (lemmatize(chunk),)
    m = _WORD_IN_PUNCT.fullmatch(chunk)
    if m and _is_punct(m[1] + m[3]):
        return _marks(m[1]) + (lemmatize(m[2]),) + _marks(m[3])
    out: list[str] = []
    for tok in tokenize(chunk):
        t = tok.text
        if t[0].isalnum():
            out.append(lemmatize(t) if t[0].isalpha() else t)
        elif _is_punct(t):
            out.extend(_marks(t))
        else:
            out.append(_REPEATS.sub(r"\1", t))
    return tuple(out)


def bind_negations(tokens: list[str]) -> list[str]:
    """«не»/«ни» joined to the word after them; kept alone before punctuation or at the end.

    >>> bind_negations(["я", "не", "перезвонить", "ни", "!"])
    ['я', 'не_перезвонить', 'ни', '!']
    """
    out: list[str] = []
    neg = None
    for tok in tokens:
        if neg is not None:
            if tok[0].isalpha():
                out.append(neg + "_" + tok)
                neg = None
                continue
            out.append(neg)
            neg = None
        if tok in NEGATIONS:
            neg = tok
        else:
            out.append(tok)
    if neg is not None:
        out.append(neg)
    return out


class NgramAnalyzer:
    """Callable for ``TfidfVectorizer(analyzer=...)``: a token list to its n-grams.

    >>> NgramAnalyzer((1, 2))(["не_работать", "интернет"])
    ['не_работать', 'интернет', 'не_работать интернет']
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2)):
        self.ngram_range = tuple(ngram_range)

    def __call__(self, tokens: Sequence[str]) -> list[str]:
        lo, hi = self.ngram_range
        out = list(tokens) if lo == 1 else []
        for n in range(max(lo, 2), hi + 1):
            # zip of shifted views builds the n-grams at C speed: this runs per text in the hot path
            out.extend(map(" ".join, zip(*(tokens[k:] for k in range(n)))))
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NgramAnalyzer) and other.ngram_range == self.ngram_range

    def __repr__(self) -> str:
        return f"NgramAnalyzer({self.ngram_range!r})"


class CharNgramAnalyzer:
    """Character n-grams of each token, padded with spaces like scikit-learn's ``char_wb``.

    They catch typos and word families that lemmas miss («дозвон», «недозвон»).

    >>> CharNgramAnalyzer((3, 3))(["сбой"])
    [' сб', 'сбо', 'бой', 'ой ']
    """

    def __init__(self, ngram_range: tuple[int, int] = (2, 5)):
        self.ngram_range = tuple(ngram_range)

    def grams(self, token: str) -> tuple[str, ...]:
        """The n-grams of one token."""
        lo, hi = self.ngram_range
        w = f" {token} "
        return tuple([w[i:i + n] for n in range(lo, hi + 1) for i in range(len(w) - n + 1)])

    def known(self, tokens: Sequence[str], vocabulary: dict[str, int]) -> list[list[int]]:
        """Per token, the numbers of its n-grams that ``vocabulary`` holds.

        A number repeats when the token holds the same n-gram more than once
        («аааа» holds «ааа» twice): repeats are counts, and a sparse product
        adds them up.

        >>> CharNgramAnalyzer((3, 3)).known(["сбой", "ой"], {"бой": 0, "ой ": 1})
        [[0, 1], [1]]
        """
        get, grams = vocabulary.get, self.grams
        return [[i for i in map(get, grams(t)) if i is not None] for t in tokens]

    def __call__(self, tokens: Sequence[str]) -> list[str]:
        # what TfidfVectorizer(analyzer=...) calls; training counts per distinct token instead
        # (nlp.model.CharNgramTfidf), so this path needs no cache
        return list(chain.from_iterable(map(self.grams, tokens)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharNgramAnalyzer) and other.ngram_range == self.ngram_range

    def __repr__(self) -> str:
        return f"CharNgramAnalyzer({self.ngram_range!r})"
