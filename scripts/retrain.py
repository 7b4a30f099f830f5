#!/usr/bin/env python3
"""Retrain the tagger: new labelled data in, a new model and model card out.

    python scripts/retrain.py                          # rebuild models/default.joblib from corpora/
    python scripts/retrain.py new_labels.jsonl -o models/acme.joblib   # corpora/ + new data
    python scripts/retrain.py new.csv --no-base -o models/only_new.joblib

New data is JSONL or CSV in the schema of LABELLING.md (id, text, is_complaint,
root_causes, recovery). Bad records are reported with file and line and
skipped. When ../shared/data/real_dev.jsonl exists the new model is scored on it
and the figures go into the card; it is never trained on.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.cli import main as complaints  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "real_dev.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("new", nargs="*", help="new labelled files (JSONL or CSV)")
    ap.add_argument("-o", "--output", default=str(ROOT / "models" / "default.joblib"))
    ap.add_argument("--no-base", action="store_true", help="train on the new files only, not on corpora/")
    ap.add_argument("--eval", action="append", default=[], help="extra labelled file to score the model on")
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sources = ([] if args.no_base else [str(ROOT / "corpora")]) + args.new
    if not sources:
        ap.error("nothing to train on: give new files or drop --no-base")
    evals = args.eval + ([str(DEV)] if DEV.exists() else [])
    argv = ["train", *sources, "-o", args.output, "--cv", str(args.cv), "--seed", str(args.seed)]
    for e in evals:
        argv += ["--eval", e]
    return complaints(argv)


if __name__ == "__main__":
    sys.exit(main())
