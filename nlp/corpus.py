"""Labelled data: reading JSONL/CSV in the guide's schema, checking a corpus, label matrices."""
from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from .labels import ATTEMPTED, CAUSES, record_problems

DEFAULT_CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpora"


@dataclass(frozen=True)
class Problem:
    """One bad record: where it is and what is wrong."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


def corpus_files(paths: Iterable[str | Path] = ()) -> list[Path]:
    """Expand directories to their ``*.jsonl`` files; no paths means ``corpora/``.

    >>> [p.name for p in corpus_files()][:1] != []
    True
    """
    paths = list(paths) or [DEFAULT_CORPUS_DIR]
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.jsonl")) if p.is_dir() else [p])
    return out


def _csv_record(row: dict[str, str]) -> dict:
    # CSV carries lists and booleans as text: «a;b» or a JSON list, «true»/«1».
    rec: dict = dict(row)
    causes = (row.get("root_causes") or "").strip()
    if causes.startswith("["):
        try:
            rec["root_causes"] = json.loads(causes)
        except json.JSONDecodeError:
            rec["root_causes"] = causes
    else:
        rec["root_causes"] = [c.strip() for c in re.split(r"[;,|]", causes) if c.strip() and c.strip() != "other"]
    flag = (row.get("is_complaint") or "").strip().lower()
    rec["is_complaint"] = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(flag, flag)
    return rec


def _raw_records(path: Path) -> Iterator[tuple[int, object, str | None]]:
    """(line number, record or None, parse error) for every non-blank record."""
    if path.suffix.lower() in (".csv", ".tsv"):
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            for row in reader:
                yield reader.line_num, _csv_record(row), None
        return
    with path.open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line), None
            except json.JSONDecodeError as e:
                yield n, None, f"not valid JSON ({e.msg} at column {e.colno})"


def read_labelled(paths: Iterable[str | Path] = ()) -> tuple[pd.DataFrame, list[Problem]]:
    """Valid records of JSONL/CSV files as a DataFrame, and the bad ones as problems.

    Bad records are skipped, never silently: each comes back as a
    :class:`Problem` naming its file and line.

    >>> df, problems = read_labelled(["corpora"])
    >>> {"id", "text", "is_complaint", "root_causes", "recovery"} <= set(df.columns)
    True
    """
    rows: list[dict] = []
    problems: list[Problem] = []
    for path in corpus_files(paths):
        if not path.exists():
            problems.append(Problem(str(path), 0, "file not found"))
            continue
        for line, rec, error in _raw_records(path):
            issues = [error] if error else record_problems(rec)
            if issues:
                problems.append(Problem(str(path), line, "; ".join(issues)))
                continue
            row = dict(rec)
            row["id"] = str(row.get("id") or f"{path.name}:{line}")
            row["source"] = path.name
            row["line"] = line
            rows.append(row)
    cols = ["id", "text", "is_complaint", "root_causes", "recovery", "source", "line"]
    df = pd.DataFrame(rows)
    return (df if len(df) else pd.DataFrame(columns=cols)), problems


def label_matrix(df: pd.DataFrame) -> np.ndarray:
    """0/1 matrix with one column per label of :data:`nlp.labels.LABELS`."""
    y = np.zeros((len(df), len(CAUSES) + 1), dtype=np.int8)
    for i, causes in enumerate(df["root_causes"]):
        for c in causes:
            y[i, CAUSES.index(c)] = 1
    y[:, -1] = (df["recovery"].to_numpy() == ATTEMPTED)
    return y


_NOT_WORD = re.compile(r"[\W_]+")


def dedup_key(text: str) -> str:
    """The text with case, ё/е, punctuation and spacing folded away.

    >>> dedup_key("Не дозвониться!!!") == dedup_key("не   дозвониться")
    True
    """
    return _NOT_WORD.sub(" ", text.lower().replace("ё", "е")).strip()


def check_corpus(paths: Iterable[str | Path] = ()) -> tuple[pd.DataFrame, list[Problem]]:
    """Schema problems plus duplicate ids and duplicate or near-duplicate texts."""
    df, problems = read_labelled(paths)
    first_id: dict[str, tuple[str, int]] = {}
    first_text: dict[str, tuple[str, int, str]] = {}
    for rid, text, src, line in zip(df["id"], df["text"], df["source"], df["line"]):
        if rid in first_id:
            problems.append(Problem(src, line, f"duplicate id {rid!r} (first at {':'.join(map(str, first_id[rid]))})"))
        else:
            first_id[rid] = (src, line)
        key = dedup_key(text)
        if key in first_text:
            s, ln, other = first_text[key]
            problems.append(Problem(src, line, f"record {rid!r} repeats the text of {other!r} ({s}:{ln})"))
        else:
            first_text[key] = (src, line, rid)
    return df, problems


def corpus_stats(df: pd.DataFrame) -> dict:
    """Counts for the datasheet: labels overall and by register and domain, lengths."""
    complaints = df[df["is_complaint"]]
    n_causes = complaints["root_causes"].map(len)
    words = df["text"].str.split().map(len)
    stats = {
        "records": int(len(df)),
        "complaints": int(len(complaints)),
        "non_complaints": int((~df["is_complaint"]).sum()),
        "causes": {c: int(complaints["root_causes"].map(lambda cs, c=c: c in cs).sum()) for c in CAUSES},
        "other": int((n_causes == 0).sum()),
        "multi_cause": int((n_causes >= 2).sum()),
        "recovery_attempted": int((df["recovery"] == ATTEMPTED).sum()),
        "words_median": float(words.median()),
        "words_p90": float(words.quantile(0.9)),
        "words_min": int(words.min()),
        "words_max": int(words.max()),
    }
    for key in ("register", "domain"):
        if key in df.columns:
            stats[f"by_{key}"] = {str(k): int(v) for k, v in Counter(df[key].fillna("?")).most_common()}
    return stats


def files_sha256(paths: Iterable[Path]) -> str:
    """One SHA-256 over the files' names and bytes, in order: the training-data fingerprint."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()
