"""The `complaints` command: tag, report, train, evaluate, explain, corpus check."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import warnings
from pathlib import Path

from . import __version__
from .labels import LABELS


def _cmd_tag(args) -> int:
    from .batch import tag_file
    from .report import ReportBuilder
    from .tagger import ComplaintTagger

    if args.report and Path(args.report).exists() and not args.force:
        raise _Fail(f"{args.report} already exists; pass --force to overwrite it")
    tagger = ComplaintTagger.load(args.model, thresholds=_thresholds(args))
    builder = ReportBuilder(by=args.by, by_month=args.by_month) if args.report else None
    summary = tag_file(tagger, args.input, args.output, text_column=args.text_column, id_column=args.id_column,
                       chunk_size=args.chunk_size, jobs=args.jobs, force=args.force, encoding=args.encoding,
                       delimiter=args.delimiter, report=builder)
    if builder is not None:
        builder.write(args.report, title=f"Complaint root causes — {Path(args.input).name}")
    print(summary.line(), file=sys.stderr)
    if args.threshold:
        print("thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in zip(LABELS, tagger.thresholds)), file=sys.stderr)
    print(f"wrote {summary.output}" + (f" and {args.report}" if args.report else ""), file=sys.stderr)
    return 0


def _cmd_report(args) -> int:
    from .batch import report_file

    if Path(args.output).exists() and not args.force:
        raise _Fail(f"{args.output} already exists; pass --force to overwrite it")
    b = report_file(args.tagged, args.output, text_column=args.text_column, by=args.by, by_month=args.by_month)
    print(f"wrote {args.output}: {b.rows:,} rows, {b.tagged:,} tagged", file=sys.stderr)
    return 0


def _print_problems(problems, limit: int = 20) -> None:
    for p in problems[:limit]:
        print(f"skipped {p}", file=sys.stderr)
    if len(problems) > limit:
        print(f"… and {len(problems) - limit} more bad records", file=sys.stderr)


def _cmd_train(args) -> int:
    from .evaluate import format_report
    from .train import train

    card, problems = train(args.corpus, args.output, evals=args.eval or (), cv=args.cv, seed=args.seed,
                           n_jobs=args.jobs)
    _print_problems(problems)
    cv = card["cv_metrics"] or {}
    print(f"trained on {card['training_data']['records']:,} records in {card['train_seconds']}s → {args.output}",
          file=sys.stderr)
    if cv:
        folds = f"{cv['folds']} folds" + (", by source file" if cv.get("grouped") else "")
        print(f"cross-validated ({folds}): cause macro-F1 {cv['cause_macro_f1']:.3f}, "
              f"recovery F1 {cv['f1']['recovery']:.3f}", file=sys.stderr)
    for name, metrics in card["evaluations"].items():
        print(f"\n{name}:\n{format_report(metrics)}", file=sys.stderr)
    return 0


def _cmd_evaluate(args) -> int:
    from .corpus import read_labelled
    from .evaluate import format_report
    from .tagger import ComplaintTagger
    from .train import evaluate_model

    tagger = ComplaintTagger.load(args.model, thresholds=_thresholds(args))
    df, problems = read_labelled(args.labelled)
    _print_problems(problems)
    if not len(df):
        raise _Fail("no valid labelled record to evaluate on")
    metrics = evaluate_model(tagger.model, df, thresholds=tagger.thresholds)  # the tagger owns the cut-offs
    print(json.dumps(metrics, ensure_ascii=False, indent=2) if args.json else format_report(metrics))
    return 0


def _cmd_explain(args) -> int:
    from .tagger import ComplaintTagger

    tagger = ComplaintTagger.load(args.model, thresholds=_thresholds(args))
    for label, e in tagger.explain(args.text, top=args.top).items():
        mark = "YES" if e["decision"] else "no "
        feats = ", ".join(f"{f} {w:+.2f}" for f, w in e["features"])
        print(f"{mark} {label:<20} p={e['probability']:.2f} (threshold {e['threshold']:.2f})  {feats}")
    return 0


def _cmd_corpus(args) -> int:
    from .corpus import check_corpus, corpus_stats

    df, problems = check_corpus(args.paths)
    if args.action == "stats":
        print(json.dumps(corpus_stats(df), ensure_ascii=False, indent=2))
        return 0
    for p in problems:
        print(p)
    print(f"{len(df):,} valid records, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


class _Fail(Exception):
    pass


def _thresholds(args) -> dict[str, str]:
    """``--threshold recovery=0.5`` options as a mapping (the tagger checks names and values)."""
    out = {}
    for spec in args.threshold:
        label, sep, value = spec.partition("=")
        if not sep:
            raise _Fail(f"--threshold takes LABEL=PROBABILITY, e.g. recovery=0.5; got {spec!r}")
        out[label.strip()] = value.strip()
    return out


def _threshold_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threshold", action="append", default=[], metavar="LABEL=P",
                   help="replace the model's cut-off for one label, e.g. recovery=0.5 (repeatable)")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="complaints", description="Russian complaint classifier: root causes and recovery.")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tag", help="tag every row of a complaint log (CSV/TSV, XLSX, JSONL, Parquet)")
    t.add_argument("input")
    t.add_argument("-o", "--output", required=True, help="output file; its extension picks the format")
    t.add_argument("--text-column", help="column with the complaint text (default: found by name)")
    t.add_argument("--id-column", help="column with the record id (checked to exist)")
    t.add_argument("--model", help="model file (default: the shipped models/default.joblib)")
    t.add_argument("--chunk-size", type=int, default=20_000, help="rows per chunk (default 20000)")
    t.add_argument("--jobs", type=int, default=1, help="processes; -1 for all cores (default 1)")
    t.add_argument("--force", action="store_true", help="overwrite an existing output")
    t.add_argument("--encoding", help="input encoding for CSV (default: detected)")
    t.add_argument("--delimiter", help="CSV delimiter (default: sniffed among , ; tab |)")
    t.add_argument("--report", help="also write the HTML report here")
    t.add_argument("--by", help="report: group by this column")
    t.add_argument("--by-month", metavar="DATE_COLUMN", help="report: group by month of this date column")
    _threshold_option(t)
    t.set_defaults(func=_cmd_tag)

    r = sub.add_parser("report", help="HTML Pareto report of a tagged file")
    r.add_argument("tagged")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--text-column")
    r.add_argument("--by", help="group by this column")
    r.add_argument("--by-month", metavar="DATE_COLUMN", help="group by month of this date column")
    r.add_argument("--force", action="store_true")
    r.set_defaults(func=_cmd_report)

    tr = sub.add_parser("train", help="train a model on labelled JSONL/CSV files")
    tr.add_argument("corpus", nargs="+", help="labelled files or directories of *.jsonl")
    tr.add_argument("-o", "--output", required=True, help="model file, e.g. models/NAME.joblib")
    tr.add_argument("--eval", action="append", help="labelled file to score after training (repeatable)")
    tr.add_argument("--cv", type=int, default=5, help="folds for thresholds and CV metrics (0: none)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--jobs", type=int, default=-1, help="processes for the CV folds (default: all cores)")
    tr.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate", help="score a model on labelled data (complaint rows)")
    ev.add_argument("labelled", nargs="+")
    ev.add_argument("--model")
    ev.add_argument("--json", action="store_true", help="print JSON")
    _threshold_option(ev)
    ev.set_defaults(func=_cmd_evaluate)

    ex = sub.add_parser("explain", help="why the model tags a text as it does")
    ex.add_argument("text")
    ex.add_argument("--model")
    ex.add_argument("--top", type=int, default=6)
    _threshold_option(ex)
    ex.set_defaults(func=_cmd_explain)

    c = sub.add_parser("corpus", help="check a labelled corpus or print its statistics")
    c.add_argument("action", choices=["check", "stats"])
    c.add_argument("paths", nargs="*", help="files or directories (default: corpora/)")
    c.set_defaults(func=_cmd_corpus)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # kill and a closed terminal unwind like Ctrl-C, so temporary outputs are removed on the way out
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupt)
    from .logio import LogError
    from .persist import ModelError

    try:
        with warnings.catch_warnings():  # restores the caller's warning setup on the way out
            if not args.debug:
                warnings.simplefilter("default")
                warnings.showwarning = lambda msg, *a, **k: print(f"complaints: warning: {msg}", file=sys.stderr)
            return args.func(args)
    except KeyboardInterrupt:
        print("complaints: interrupted; no output was written", file=sys.stderr)
        return 130
    except (LogError, ModelError, _Fail, ValueError, KeyError, OSError) as e:
        if args.debug:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"complaints: error: {msg}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug, not bad input: still one line, with the way to see more
        if args.debug:
            raise
        print(f"complaints: unexpected error: {type(e).__name__}: {e} (run again with --debug and report it)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
