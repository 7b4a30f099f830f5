"""Scores of predicted labels against the guide's labels, on complaint rows."""
from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

from .labels import CAUSES, OTHER


def _cause_set(row: np.ndarray) -> str:
    names = [c for c, v in zip(CAUSES, row) if v]
    return "+".join(names) if names else OTHER


def score(y_true: np.ndarray, y_pred: np.ndarray, top_confusions: int = 10) -> dict:
    """Per-cause P/R/F1, cause macro-F1, recovery (attempted) P/R/F1, cause-set confusions.

    Both arguments are n × 5 0/1 matrices (four causes, then recovery), as made
    by :func:`nlp.corpus.label_matrix`.

    >>> y = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0]])
    >>> p = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 0, 0]])
    >>> score(y, y)["cause_macro_f1"], score(y, p)["causes"]["lack_of_information"]["recall"]
    (1.0, 0.0)
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    p, r, f, s = precision_recall_fscore_support(y_true[:, :4], y_pred[:, :4], zero_division=0)
    per_cause = {c: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                     "f1": round(float(f[i]), 4), "support": int(s[i])} for i, c in enumerate(CAUSES)}
    rp, rr, rf, rs = precision_recall_fscore_support(y_true[:, 4], y_pred[:, 4], average="binary",
                                                     zero_division=0)
    pairs = Counter((_cause_set(t), _cause_set(q)) for t, q in zip(y_true[:, :4], y_pred[:, :4]))
    return {
        "rows": int(len(y_true)),
        "causes": per_cause,
        "cause_macro_f1": round(float(f1_score(y_true[:, :4], y_pred[:, :4], average="macro",
                                               zero_division=0)), 4),
        "exact_cause_set": round(float((y_true[:, :4] == y_pred[:, :4]).all(axis=1).mean()), 4) if len(y_true) else 0.0,
        "recovery": {"precision": round(float(rp), 4), "recall": round(float(rr), 4), "f1": round(float(rf), 4),
                     "support": int(y_true[:, 4].sum())},
        "confusions": [{"true": t, "predicted": q, "count": n}
                       for (t, q), n in pairs.most_common() if t != q][:top_confusions],
    }


def bootstrap(y_true: np.ndarray, y_pred: np.ndarray, n: int = 1000, seed: int = 0) -> dict:
    """95% bootstrap intervals of cause macro-F1 and recovery F1: how much a small dev set can say.

    >>> y = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0]] * 20)
    >>> bootstrap(y, y, n=50)["cause_macro_f1"]
    [1.0, 1.0]
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    rng = np.random.default_rng(seed)
    macro, rec = [], []
    for _ in range(n):
        i = rng.integers(0, len(y_true), len(y_true))
        macro.append(f1_score(y_true[i, :4], y_pred[i, :4], average="macro", zero_division=0))
        rec.append(f1_score(y_true[i, 4], y_pred[i, 4], zero_division=0))
    ci = lambda v: [round(float(q), 3) for q in np.percentile(v, [2.5, 97.5])]  # noqa: E731
    return {"cause_macro_f1": ci(macro), "recovery_f1": ci(rec), "resamples": n}


def format_report(metrics: dict) -> str:
    """A plain-text table of :func:`score`'s output."""
    lines = [f"{'label':<22}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for name, m in list(metrics["causes"].items()) + [("recovery=attempted", metrics["recovery"])]:
        lines.append(f"{name:<22}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}{m['support']:>9}")
    lines.append(f"cause macro-F1 {metrics['cause_macro_f1']:.3f}   exact cause set {metrics['exact_cause_set']:.3f}"
                 f"   rows {metrics['rows']}")
    if "ci95" in metrics:
        ci = metrics["ci95"]
        lines.append(f"95% bootstrap intervals: cause macro-F1 {ci['cause_macro_f1']}, recovery F1 {ci['recovery_f1']}")
    if metrics["confusions"]:
        lines.append("most frequent cause-set confusions (true → predicted):")
        lines += [f"  {c['count']:>4}  {c['true']} → {c['predicted']}" for c in metrics["confusions"]]
    return "\n".join(lines)
