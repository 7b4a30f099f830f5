"""Training and evaluation runs: labelled files in, a model file with its card out."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .corpus import Problem, corpus_files, corpus_stats, files_sha256, label_matrix, read_labelled
from .evaluate import bootstrap, score
from .model import ComplaintClassifier
from .persist import save_model


def complaint_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows the guide scores causes and recovery on."""
    return df[df["is_complaint"].astype(bool)].reset_index(drop=True)


def evaluate_model(model, df: pd.DataFrame, thresholds: Sequence[float] | None = None) -> dict:
    """:func:`nlp.evaluate.score` of ``model`` on the complaint rows of ``df``.

    ``model`` has ``predict(texts)``, or ``predict_proba(texts)`` when
    ``thresholds`` (one per label) replace its own.
    """
    rows = complaint_rows(df)
    texts = rows["text"].tolist()
    if not len(rows):
        pred = np.zeros((0, 5))
    elif thresholds is not None:
        pred = (model.predict_proba(texts) >= np.asarray(thresholds)).astype(np.int8)
    else:
        pred = model.predict(texts)
    y = label_matrix(rows)
    metrics = score(y, pred)
    if len(rows):
        metrics["ci95"] = bootstrap(y, pred)
    return metrics


def train(corpus: Iterable[str | Path], output: str | Path, evals: Iterable[str | Path] = (),
          cv: int = 5, seed: int = 0, **params) -> tuple[dict, list[Problem]]:
    """Fit a :class:`ComplaintClassifier` on ``corpus`` files and save it with its card.

    Returns the card and the bad records that were skipped. ``evals`` are
    labelled files scored after training; their figures go into the card.
    """
    files = corpus_files(corpus)
    df, problems = read_labelled(files)
    if len(df) == 0:
        raise ValueError("no valid labelled record in " + ", ".join(map(str, files)))
    start = time.perf_counter()
    model = ComplaintClassifier(cv=cv, random_state=seed, **params).fit(
        df["text"].tolist(), label_matrix(df), is_complaint=df["is_complaint"].to_numpy(bool),
        groups=df["source"].tolist())
    seconds = time.perf_counter() - start
    evaluations = {}
    for path in evals:
        edf, eproblems = read_labelled([path])
        problems += eproblems
        evaluations[Path(path).name] = evaluate_model(model, edf)
    card = {
        "training_data": {
            "files": [f.name for f in files],
            "sha256": files_sha256(files),
            "bytes": sum(f.stat().st_size for f in files),
            "records": int(len(df)),
            "skipped_records": len(problems),
            "stats": corpus_stats(df),
        },
        "params": {k: v for k, v in model.get_params(deep=False).items() if k != "preprocessor"},
        "thresholds": dict(zip(model.labels_, map(float, model.thresholds_))),
        "cv_metrics": model.cv_scores_,
        "cv_note": "out-of-fold F1 on complaint rows, at thresholds picked on the same out-of-fold "
                   "predictions (slightly optimistic); folds keep each source file whole when there "
                   "are at least as many files as folds",
        "evaluations": evaluations,
        "train_seconds": round(seconds, 1),
        "retrain": "python scripts/retrain.py",
    }
    # the file holds the tagging form: it loads without scikit-learn (see nlp.scoring)
    return save_model(model.scorer(), output, card), problems
