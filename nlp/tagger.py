"""The tagger: a trained model behind a small API for texts, lists and tables."""
from __future__ import annotations

import gc
import math
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from .model import ComplaintClassifier

from .labels import ATTEMPTED, CAUSES, LABELS, NOT_ATTEMPTED, OTHER
from .persist import DEFAULT_MODEL, ModelError, load_model
from .scoring import BatchScorer

OK, EMPTY, NOT_RUSSIAN, TRUNCATED = "ok", "empty_text", "not_russian", "truncated"
#: Longer texts are cut: a 20,000-character complaint is already a long letter,
#: and a runaway cell (a whole log pasted into one field) must not stall a batch.
MAX_CHARS = 20_000
_CYRILLIC = re.compile("[а-яА-ЯёЁ]")
_WORKER: "ComplaintTagger | None" = None


@dataclass(frozen=True)
class TagResult:
    """Labels of one text. ``root_causes == []`` means ``other``."""

    root_causes: list[str]
    recovery: str
    probabilities: dict[str, float] = field(repr=False)
    status: str = OK

    @property
    def cause_label(self) -> str:
        """Causes joined by «;», or ``other``."""
        return ";".join(self.root_causes) or OTHER


def text_status(text: object, max_chars: int = MAX_CHARS) -> tuple[str, str]:
    """(status, text to classify) for one raw cell: empty, not Russian, truncated or ok.

    >>> text_status("   ")
    ('empty_text', '')
    >>> text_status("My router is broken")[0]
    'not_russian'
    """
    pd = sys.modules.get("pandas")  # pandas.NA exists only where pandas was imported
    if text is None or (isinstance(text, float) and math.isnan(text)) or (pd is not None and text is pd.NA):
        return EMPTY, ""
    s = text if isinstance(text, str) else str(text)
    if not s.strip():
        return EMPTY, ""
    if not _CYRILLIC.search(s):
        return NOT_RUSSIAN, ""
    if len(s) > max_chars:
        return TRUNCATED, s[:max_chars]
    return OK, s


def override_thresholds(base: Sequence[float], overrides: Mapping[str, float] | None) -> np.ndarray:
    """A copy of the model's thresholds (order of ``LABELS``) with some replaced by label name.

    >>> override_thresholds([0.5, 0.4, 0.3, 0.4, 0.7], {"recovery": 0.5}).tolist()
    [0.5, 0.4, 0.3, 0.4, 0.5]
    """
    out = np.array(base, dtype=float)
    for name, value in (overrides or {}).items():
        if name not in LABELS:
            raise ValueError(f"unknown label {name!r} for a threshold; use one of {', '.join(LABELS)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"the threshold for {name} must be a probability, e.g. 0.5; got {value!r}") from None
        if not 0 < value <= 1:
            raise ValueError(f"the threshold for {name} must be above 0 and at most 1; got {value}")
        out[LABELS.index(name)] = value
    return out


class ComplaintTagger:
    """Tags Russian complaints with root causes and recovery.

    >>> tagger = ComplaintTagger.load()
    >>> r = tagger.tag("Час висела на линии, робот не соединяет с оператором")
    >>> r.root_causes
    ['phone_menu_delay']
    >>> tagger.tag("").status
    'empty_text'

    ``thresholds`` replaces some of the model's cross-validated cut-offs, by
    label name, for a different trade-off: ``{"recovery": 0.5}`` finds more
    attempts at some cost in precision (``models/MODEL_CARD.md`` has the
    figures at several cut-offs).
    """

    def __init__(self, model: "BatchScorer | ComplaintClassifier", card: dict | None = None,
                 max_chars: int = MAX_CHARS, thresholds: Mapping[str, float] | None = None):
        # a freshly trained classifier is tagged through its tagging form, as a loaded file is
        self.model: BatchScorer = model if isinstance(model, BatchScorer) else model.scorer()
        self.card = card or {}
        self.max_chars = max_chars
        self.thresholds = override_thresholds(self.model.thresholds, thresholds)

    @classmethod
    def load(cls, path: str | Path | None = None, thresholds: Mapping[str, float] | None = None) -> "ComplaintTagger":
        """Load a model file with its card; no path means the shipped default.

        >>> float(ComplaintTagger.load(thresholds={"recovery": 0.5}).thresholds[-1])
        0.5

        Raises :class:`nlp.persist.ModelError` with what to do next when the
        file is missing or does not match its card, and ``ValueError`` for an
        unknown label or a cut-off outside (0, 1] in ``thresholds``.
        """
        path = Path(path or os.environ.get("COMPLAINTS_MODEL") or DEFAULT_MODEL)
        model, card = load_model(path)
        if not isinstance(model, BatchScorer):
            raise ModelError(f"{path} holds a {type(model).__name__}, not a complaint model; "
                             "retrain it with `complaints train` or scripts/retrain.py")
        return cls(model, card, thresholds=thresholds)

    # -- the fast path: arrays in, arrays out ------------------------------------------------
    def score(self, texts: Sequence[object]) -> tuple[np.ndarray, list[str]]:
        """Probabilities (n × 5: causes then recovery) and a status per text.

        Rows that are empty or not Russian get zero probabilities.
        """
        checked = [text_status(t, self.max_chars) for t in texts]
        statuses = [s for s, _ in checked]
        P = np.zeros((len(checked), len(CAUSES) + 1))
        idx = [i for i, (s, _) in enumerate(checked) if s in (OK, TRUNCATED)]
        if idx:
            P[idx] = self.model.predict_proba([checked[i][1] for i in idx])
        return P, statuses

    def score_parallel(self, texts: Sequence[object], n_jobs: int = 1,
                       batch_size: int = 2_000) -> tuple[np.ndarray, list[str]]:
        """:meth:`score` over batches, on ``n_jobs`` processes (-1: all cores)."""
        n_jobs = resolve_jobs(n_jobs)
        batches = [texts[i:i + batch_size] for i in range(0, len(texts), batch_size)]
        if n_jobs <= 1 or len(batches) <= 1:
            parts = [self.score(b) for b in batches]
        else:
            with worker_pool(self, n_jobs) as pool:
                parts = list(pool.map(_score_in_worker, batches))
        if not parts:
            return np.zeros((0, len(CAUSES) + 1)), []
        return np.vstack([p for p, _ in parts]), [s for _, ss in parts for s in ss]

    def decide(self, P: np.ndarray) -> tuple[list[list[str]], list[str]]:
        """Cause lists and recovery values from probabilities, at the model's thresholds."""
        hits = P >= self.thresholds
        causes = [[c for c, h in zip(CAUSES, row) if h] for row in hits[:, :4]]
        recovery = [ATTEMPTED if h else NOT_ATTEMPTED for h in hits[:, 4]]
        return causes, recovery

    def columns(self, P: np.ndarray, statuses: list[str]) -> "pd.DataFrame":
        """The output columns of a tagged table, from :meth:`score`'s results."""
        import pandas as pd

        causes, recovery = self.decide(P)
        out = {"root_causes": causes}
        out.update({f"p_{c}": np.round(P[:, j], 4) for j, c in enumerate(CAUSES)})
        out.update({"recovery": recovery, "p_recovery": np.round(P[:, 4], 4), "tag_status": statuses})
        return pd.DataFrame(out)

    # -- the convenient API ------------------------------------------------------------------
    def tag(self, text: str) -> TagResult:
        """Labels of one text; never raises on empty, odd or huge input.

        >>> ComplaintTagger.load().tag("Приложение вылетает при входе").root_causes
        ['faulty_device']
        """
        return self.tag_many([text])[0]

    def tag_many(self, texts: Iterable[str], batch_size: int = 2_000, n_jobs: int = 1) -> list[TagResult]:
        """Labels of many texts, in order; ``n_jobs`` processes for big inputs."""
        texts = list(texts)
        P, statuses = self.score_parallel(texts, n_jobs=n_jobs, batch_size=batch_size)
        causes, recovery = self.decide(P)
        names = list(CAUSES) + ["recovery"]
        return [TagResult(c, r, dict(zip(names, row)), s)
                for c, r, row, s in zip(causes, recovery, P.round(4).tolist(), statuses)]

    def tag_frame(self, df: "pd.DataFrame", text_column: str = "text", n_jobs: int = 1) -> "pd.DataFrame":
        """A copy of ``df`` with the label columns appended (original columns first, unchanged).

        >>> import pandas as pd
        >>> out = ComplaintTagger.load().tag_frame(pd.DataFrame({"text": ["Банкомат съел карту"]}))
        >>> list(out.columns)[:3]
        ['text', 'root_causes', 'p_phone_menu_delay']
        """
        if text_column not in df.columns:
            raise KeyError(f"no column {text_column!r}; columns are {list(df.columns)}")
        P, statuses = self.score_parallel(df[text_column].tolist(), n_jobs=n_jobs)
        import pandas as pd

        tags = self.columns(P, statuses)
        tags.index = df.index
        return pd.concat([df, tags], axis=1)

    def explain(self, text: str, top: int = 8) -> dict[str, dict]:
        """Per label: probability, decision and the features that pushed it most, with weights.

        >>> e = ComplaintTagger.load().explain("Мне так и не перезвонили")
        >>> sorted(e)[:2]
        ['faulty_device', 'lack_of_information']
        """
        status, clean = text_status(text, self.max_chars)
        P, pushes = self.model.explain(clean) if clean else (np.zeros(len(CAUSES) + 1), {})
        out = {}
        for j, label in enumerate(list(CAUSES) + ["recovery"]):
            weights = pushes.get(label, [])
            weights.sort(key=lambda fw: -abs(fw[1]))
            out[label] = {"probability": round(float(P[j]), 4), "threshold": float(self.thresholds[j]),
                          "decision": bool(P[j] >= self.thresholds[j]), "status": status,
                          "features": [(f, round(w, 4)) for f, w in weights[:top]]}
        return out


def resolve_jobs(n_jobs: int) -> int:
    """``-1`` or ``0`` → every core; anything else as given."""
    return (os.cpu_count() or 1) if n_jobs in (-1, 0) else n_jobs


def _init_worker(tagger: ComplaintTagger) -> None:
    global _WORKER
    _WORKER = tagger


def _score_in_worker(texts):
    return _WORKER.score(texts)


def worker_pool(tagger: ComplaintTagger, n_jobs: int) -> ProcessPoolExecutor:
    """Processes that each hold the tagger; forked on Linux so the model is not pickled per batch."""
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(n_jobs, mp_context=get_context(method), initializer=_init_worker,
                               initargs=(tagger,))
    if method == "fork":
        # A forking pool starts all its processes at the first task. Start them now with the
        # parent's objects frozen: a child's garbage collector then never walks them, and so
        # never copies the pages they live on (Python's advice for fork without exec).
        gc.freeze()
        try:
            pool.submit(int).result()
        finally:
            gc.unfreeze()
    return pool
