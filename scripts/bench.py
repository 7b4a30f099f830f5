#!/usr/bin/env python3
"""Speed, memory and accuracy of the tagger against the tools users would pick instead, in one run.

    python scripts/bench.py                 # full run: 100k texts, CLI on 100k and 1M rows (~20 min)
    python scripts/bench.py --quick         # smaller, for a smoke test (~2 min)

Every peer is trained on the same corpora/ and timed on the same texts in the
same process, so the ratios compare like with like; throughput is timed in
interleaved rounds (--repeats, default 3) and each ratio taken within a round,
because the machine's speed drifts during a run. Accuracy is measured on
../shared/data/real_dev.jsonl when it exists (complaint rows) and skipped when
it does not. Needs the `bench` extra: pip install -e ".[bench]".
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from razdel import sentenize
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp import ComplaintClassifier, ComplaintTagger, RussianPreprocessor, label_matrix, read_labelled, score  # noqa: E402
from nlp.labels import LABELS  # noqa: E402
from nlp.train import complaint_rows  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "real_dev.jsonl"
_WORD = re.compile(r"(?u)\b\w\w+\b")


class RawWords(TransformerMixin, BaseEstimator):
    """The baseline's text processing: lower-cased words by scikit-learn's default pattern, nothing else."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [_WORD.findall(x.lower()) for x in X]


def bench_texts(corpus: list[str], n: int, seed: int = 0) -> list[str]:
    """A realistic log: sentences of the corpus recombined, short texts most common, some typos.

    Recombining keeps the vocabulary of real complaints while making texts the
    caches have not seen; one word in 25 gets a typo, so new word forms keep
    arriving as they do in a real log.
    """
    rng = random.Random(seed)
    sentences = [s.text for t in corpus for s in sentenize(t)]
    out = []
    for _ in range(n):
        r = rng.random()
        k = 1 if r < 0.45 else 2 if r < 0.65 else rng.randint(3, 6) if r < 0.92 else rng.randint(8, 20)
        words = " ".join(rng.choice(sentences) for _ in range(k)).split()
        for i, w in enumerate(words):
            if len(w) > 3 and rng.random() < 0.04:
                j = rng.randrange(len(w) - 1)
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        out.append(" ".join(words))
    return out


def timed(fn, *args, **kw):
    start = time.perf_counter()
    result = fn(*args, **kw)
    return result, time.perf_counter() - start


class FastTextPeer:
    """fastText supervised, one-vs-all loss so that it is multi-label like the others."""

    def fit(self, texts, Y, seed=0):
        import fasttext

        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            for t, row in zip(texts, Y):
                labels = " ".join(f"__label__{LABELS[j]}" for j in np.flatnonzero(row)) or "__label__none"
                f.write(f"{labels} {self.clean(t)}\n")
        self.model = fasttext.train_supervised(f.name, loss="ova", epoch=30, wordNgrams=2, lr=0.5, dim=50,
                                               minCount=1, seed=seed, thread=1, verbose=0)
        os.unlink(f.name)
        return self

    @staticmethod
    def clean(text):
        return " ".join(text.lower().split())

    def predict_proba(self, texts):
        # list input: fastText's single-string path breaks on NumPy 2
        labels, probs = self.model.predict([self.clean(t) for t in texts], k=-1, threshold=0.0)
        P = np.zeros((len(texts), len(LABELS)))
        index = {f"__label__{name}": j for j, name in enumerate(LABELS)}
        for i, (ls, ps) in enumerate(zip(labels, probs)):
            for lab, p in zip(ls, ps):
                if lab in index:
                    P[i, index[lab]] = p
        return P


def throughput(predict, texts, warm_up) -> float:
    """Texts per second of ``predict`` on ``texts``, after ``warm_up``."""
    predict(warm_up)  # a log's first rows: lazy loading, first cache fills
    _, seconds = timed(predict, texts)
    return len(texts) / seconds


def repeated_throughput(configs: dict, repeats: int) -> dict:
    """Each configuration timed ``repeats`` times, interleaved, and its ratios to the peers.

    This machine's speed drifts by up to a quarter between identical runs, so
    a ratio is taken within each round (each configuration once, the order
    rotated); each figure is the median over rounds, with the range of the ratios.
    """
    names = list(configs)
    rounds = []
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        rounds.append({name: throughput(configs[name][0](), *configs[name][1:]) for name in order})
        print(f"throughput round {r + 1}/{repeats}: " + ", ".join(f"{n} {v:,.0f}" for n, v in rounds[-1].items()),
              file=sys.stderr)
    out = {}
    for name, (_, texts, _) in configs.items():
        tps = np.array([rnd[name] for rnd in rounds])
        v = out[name] = {"texts_per_s": float(np.median(tps)),
                         "tokens_per_s": float(np.median(tps)) * sum(len(t.split()) for t in texts) / len(texts),
                         "texts_per_s_all": tps.tolist()}
        for key, peer in (("x_sklearn", "scikit-learn TF-IDF raw words + LR"),
                          ("x_fasttext", "fastText supervised (1 thread)")):
            ratios = tps / np.array([rnd[peer] for rnd in rounds]) if peer in configs else None
            v[key] = None if ratios is None else float(np.median(ratios))
            v[key + "_range"] = None if ratios is None else (float(ratios.min()), float(ratios.max()))
    return out


def cli_run(args: list[str]) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of one `complaints` run in a child process."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:]); dt = time.perf_counter() - t; "
             "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    exe = str(Path(sys.executable).with_name("complaints"))
    out = subprocess.run([sys.executable, "-c", probe, exe, *args], capture_output=True, text=True, check=True)
    seconds, rss_kb, code = out.stdout.split()
    if code != "0":
        raise SystemExit(f"complaints {' '.join(args)} failed: {out.stderr}")
    return float(seconds), int(rss_kb) / 1024


def write_log(path: Path, texts: list[str], rows: int) -> int:
    """A CSV export of `rows` rows cycling through `texts`; returns the bytes of complaint text."""
    text_bytes = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["id", "Канал", "Текст обращения"])
        for i in range(rows):
            t = texts[i % len(texts)]
            text_bytes += len(t.encode("utf-8"))
            w.writerow([i, "чат" if i % 3 else "звонок", t])
    return text_bytes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--rows", type=int, nargs=2, default=[100_000, 1_000_000], metavar=("SMALL", "LARGE"))
    ap.add_argument("--quick", action="store_true", help="20k texts, CLI on 20k and 100k rows")
    ap.add_argument("--repeats", type=int, default=3, help="timing rounds per throughput figure (median reported)")
    ap.add_argument("--json", help="also write all figures here")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.quick:
        args.texts, args.rows = 20_000, [20_000, 100_000]

    df, _ = read_labelled([ROOT / "corpora"])
    X, Y = df["text"].tolist(), label_matrix(df)
    texts = bench_texts(X, args.texts)
    words = sum(len(t.split()) for t in texts)
    print(f"corpus: {len(X):,} records; bench: {len(texts):,} texts, {words:,} words "
          f"(median {int(np.median([len(t.split()) for t in texts]))} words/text)", file=sys.stderr)

    results: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                                f"Python {platform.python_version()}"}
    # -- train every peer on the same corpus ---------------------------------------------
    is_complaint, groups = df["is_complaint"].to_numpy(bool), df["source"].tolist()
    ours, t_ours = timed(ComplaintClassifier(cv=5, n_jobs=-1).fit, X, Y, is_complaint, groups)
    raw_cv, _ = timed(ComplaintClassifier(preprocessor=RawWords(), cv=5, n_jobs=-1).fit, X, Y, is_complaint, groups)
    plain = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                          OneVsRestClassifier(LogisticRegression(max_iter=1000, class_weight="balanced")))
    plain, t_plain = timed(plain.fit, X, Y)
    peers = {"this project (lemmas + negation)": (ours.predict_proba, ours.thresholds_),
             "scikit-learn TF-IDF raw words + LR": (plain.predict_proba, np.full(5, 0.5)),
             "raw words, same model and CV thresholds": (raw_cv.predict_proba, raw_cv.thresholds_)}
    try:
        ft, t_ft = timed(FastTextPeer().fit, X, Y)
        peers["fastText supervised"] = (ft.predict_proba, np.full(5, 0.5))
    except ImportError:
        print("fastText not installed (pip install -e '.[bench]'): skipped", file=sys.stderr)
        t_ft = None
    results["train_seconds"] = {"this project (5-fold CV + final fit)": t_ours, "scikit-learn plain": t_plain,
                                "fastText": t_ft}

    # -- accuracy on real text -------------------------------------------------------------
    if DEV.exists():
        dev, _ = read_labelled([DEV])
        rows = complaint_rows(dev)
        Yd = label_matrix(rows)
        results["accuracy"] = {}
        for name, (proba, thr) in peers.items():
            m = score(Yd, proba(rows["text"].tolist()) >= thr)
            results["accuracy"][name] = {"cause_macro_f1": m["cause_macro_f1"], "recovery_f1": m["recovery"]["f1"],
                                         **{c: v["f1"] for c, v in m["causes"].items()}}
    else:
        print(f"{DEV} not found: accuracy skipped", file=sys.stderr)

    # -- throughput, single core, same texts -----------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from nlp.persist import save_model

        model_path = tmp / "bench.joblib"
        save_model(ours.scorer(), model_path)
        # every configuration starts from a freshly loaded model (empty caches) and the same warm-up
        warm_up = bench_texts(X, 1_000, seed=1)
        sub = texts[: max(2_000, len(texts) // 10)]
        # the same model through scikit-learn's path, with a preprocessor that caches nothing
        uncached = RussianPreprocessor(chunk_cache_size=0, lemma_cache_size=0)

        def fresh(**kw):
            """A maker of ``tag_many`` on a newly loaded model: empty caches, as when a new log starts."""
            def make():
                tagger = ComplaintTagger.load(model_path)
                return lambda t: tagger.tag_many(t, **kw)
            return make

        configs = {  # name: (what makes the predict function, texts, warm-up)
            "this project: tag_many, 1 core": (fresh(), texts, warm_up),
            f"this project: tag_many, {os.cpu_count()} processes": (fresh(n_jobs=-1, batch_size=5_000), texts,
                                                                      warm_up),
            "scikit-learn TF-IDF raw words + LR": (lambda: plain.predict_proba, texts, warm_up),
            "naive razdel + pymorphy3, no caches": (
                lambda: lambda t: ours.predict_proba_docs(uncached.transform(t)), sub, warm_up[:100]),
        }
        if "fastText supervised" in peers:
            configs["fastText supervised (1 thread)"] = (lambda: peers["fastText supervised"][0], texts, warm_up)
        results["throughput"] = repeated_throughput(configs, args.repeats)

        # -- the CLI end to end, and its memory ----------------------------------------------
        cli = {}
        for rows in args.rows:
            log = tmp / f"log_{rows}.csv"
            text_bytes = write_log(log, texts, rows)
            seconds, rss = cli_run(["tag", str(log), "-o", str(tmp / f"out_{rows}.csv"), "--model", str(model_path)])
            cli[rows] = {"seconds": seconds, "peak_rss_mb": rss, "text_mb_per_s": text_bytes / 1e6 / seconds,
                         "file_mb": log.stat().st_size / 1e6, "rows_per_s": rows / seconds}
            log.unlink()
            (tmp / f"out_{rows}.csv").unlink()
        small, large = (cli[r] for r in args.rows)
        results["cli"] = cli
        results["rss_growth"] = large["peak_rss_mb"] / small["peak_rss_mb"] - 1

        # -- cold start: import, load, first tag -----------------------------------------------
        code = ("import time; t = time.perf_counter(); from nlp import ComplaintTagger; "
                f"tg = ComplaintTagger.load({str(model_path)!r}); tg.tag('Не дозвониться до банка'); "
                "print(time.perf_counter() - t)")
        results["cold_start_seconds"] = min(
            float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(3))

    print(markdown(results, args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def markdown(r: dict, args) -> str:
    def ratio(v, key):
        if v[key] is None:
            return "—"
        lo, hi = v[key + "_range"]
        return f"{v[key]:.2f} ({lo:.2f}–{hi:.2f})"

    lines = [f"Machine: {r['machine']}. Texts: {args.texts:,} (same for every row). Throughput: median of "
             f"{args.repeats} interleaved rounds, ours from a freshly loaded model each time; ratios taken "
             "within a round, range over rounds in brackets.", "",
             "| throughput | texts/s | tokens/s | × scikit-learn | × fastText |", "|---|---:|---:|---:|---:|"]
    for name, v in r["throughput"].items():
        lines.append(f"| {name} | {v['texts_per_s']:,.0f} | {v['tokens_per_s']:,.0f} | {ratio(v, 'x_sklearn')} "
                     f"| {ratio(v, 'x_fasttext')} |")
    lines += ["", "| `complaints tag` on CSV, 1 core | rows | seconds | rows/s | text MB/s | peak RSS MB |",
              "|---|---:|---:|---:|---:|---:|"]
    for rows, v in r["cli"].items():
        lines.append(f"| {v['file_mb']:.0f} MB file | {rows:,} | {v['seconds']:.1f} | {v['rows_per_s']:,.0f} | "
                     f"{v['text_mb_per_s']:.1f} | {v['peak_rss_mb']:.0f} |")
    lines.append(f"\nPeak RSS growth from {args.rows[0]:,} to {args.rows[1]:,} rows: {100 * r['rss_growth']:+.1f}%. "
                 f"Cold start (import, load, first tag): {r['cold_start_seconds']:.2f} s. "
                 "Training: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["train_seconds"].items() if v is not None)
                 + ".")
    if "accuracy" in r:
        lines += ["", "| accuracy on real_dev.jsonl (complaint rows) | cause macro-F1 | recovery F1 | "
                      "phone_menu_delay | missing_rep | faulty_device | lack_of_information |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, v in r["accuracy"].items():
            lines.append(f"| {name} | {v['cause_macro_f1']:.3f} | {v['recovery_f1']:.3f} | {v['phone_menu_delay']:.3f} "
                         f"| {v['missing_rep']:.3f} | {v['faulty_device']:.3f} | {v['lack_of_information']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
