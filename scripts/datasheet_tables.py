#!/usr/bin/env python3
"""Print the label-count tables of corpora/README.md (the datasheet), so its figures can be regenerated.

    python scripts/datasheet_tables.py
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.corpus import corpus_stats, read_labelled  # noqa: E402
from nlp.labels import ATTEMPTED, CAUSES  # noqa: E402

SHORT = {"phone_menu_delay": "wait/menu", "missing_rep": "no rep", "faulty_device": "faulty",
         "lack_of_information": "no info"}


def table(df, key: str) -> str:
    head = [key, "records", "non-complaints", *SHORT.values(), "other", "2+ causes", "attempted", "median words"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups = sorted(df.groupby(key), key=lambda g: -len(g[1]))
    for name, d in groups:
        c = d[d["is_complaint"]]
        n = c["root_causes"].map(len)
        cells = [name, len(d), int((~d["is_complaint"]).sum()),
                 *(int(c["root_causes"].map(lambda cs, k=k: k in cs).sum()) for k in CAUSES),
                 int((n == 0).sum()), int((n >= 2).sum()), int((d["recovery"] == ATTEMPTED).sum()),
                 int(d["text"].str.split().map(len).median())]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def main():
    df, problems = read_labelled([ROOT / "corpora"])
    s = corpus_stats(df)
    print(f"records {s['records']}, complaints {s['complaints']}, non-complaints {s['non_complaints']}, "
          f"other {s['other']}, 2+ causes {s['multi_cause']}, attempted {s['recovery_attempted']}, "
          f"causes {s['causes']}, words median {s['words_median']:.0f} / p90 {s['words_p90']:.0f} / "
          f"min {s['words_min']} / max {s['words_max']}, problems {len(problems)}\n")
    print(table(df, "register"), "\n")
    print(table(df, "domain"), "\n")
    print(table(df.assign(file=df["source"]), "file"))


if __name__ == "__main__":
    main()
