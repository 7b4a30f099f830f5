"""The Pareto report: where complaints come from, as one self-contained HTML page.

:class:`ReportBuilder` takes tagged chunks as they stream past, so a report
over millions of rows needs no more memory than its counters and examples.
"""
from __future__ import annotations

import heapq
import html
import io
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .labels import CAUSES, DISPLAY_RU, OTHER

CATEGORIES = CAUSES + (OTHER,)
_TAGGED = ("ok", "truncated")


def _causes_of(value: object) -> list[str]:
    """Cause ids from a list, or from the «;»-joined text of a CSV/XLSX output."""
    if isinstance(value, str):
        return [c for c in value.split(";") if c and c != OTHER]
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [str(c) for c in value if c != OTHER]


class ReportBuilder:
    """Accumulates tagged rows; :meth:`html` renders the page.

    >>> b = ReportBuilder()
    >>> b.add(pd.DataFrame({"text": ["Не дозвониться"], "root_causes": [["phone_menu_delay"]],
    ...                     "p_phone_menu_delay": [0.9], "recovery": ["not_attempted"], "tag_status": ["ok"]}))
    >>> b.cause_counts["phone_menu_delay"]
    1
    """

    def __init__(self, text_column: str = "text", by: str | None = None, by_month: str | None = None,
                 examples: int = 3):
        self.text_column = text_column
        self.by = by
        self.by_month = by_month
        self.n_examples = examples
        self.rows = 0
        self.status = Counter()
        self.cause_counts = Counter()
        self.recovered = Counter()
        self.recovered_total = 0
        self.tagged = 0
        self.groups: dict[str, Counter] = defaultdict(Counter)
        self._examples: dict[str, list] = defaultdict(list)
        self._seq = 0

    def check_columns(self, columns: list[str]) -> None:
        """Refuse grouping by a column the file does not have, before any work is done."""
        from .logio import LogError

        for c in (self.by, self.by_month):
            if c is not None and c not in columns:
                raise LogError(f"no column {c!r} to group the report by; columns are {columns}")

    def _group_keys(self, df: pd.DataFrame) -> list[str] | None:
        if self.by_month:
            dates = pd.to_datetime(df[self.by_month], errors="coerce", dayfirst=True, format="mixed")
            return [d.strftime("%Y-%m") if not pd.isna(d) else "(no date)" for d in dates]
        if self.by:
            return ["(empty)" if v is None or (isinstance(v, float) and v != v) or str(v).strip() == ""
                    else str(v) for v in df[self.by]]
        return None

    def add(self, df: pd.DataFrame) -> None:
        """Count one tagged chunk (the columns written by ``complaints tag``)."""
        self.rows += len(df)
        statuses = df["tag_status"].astype(str).tolist()
        self.status.update(statuses)
        groups = self._group_keys(df)
        texts = df[self.text_column].tolist() if self.text_column in df.columns else [""] * len(df)
        for i, (status, causes, rec) in enumerate(zip(statuses, df["root_causes"], df["recovery"])):
            if status not in _TAGGED:
                continue
            self.tagged += 1
            cats = _causes_of(causes) or [OTHER]
            attempted = rec == "attempted"
            self.recovered_total += attempted
            for c in cats:
                self.cause_counts[c] += 1
                self.recovered[c] += attempted
                if groups is not None:
                    self.groups[groups[i]][c] += 1
                p = float(df[f"p_{c}"].iat[i]) if c != OTHER and f"p_{c}" in df.columns else 0.0
                self._keep_example(c, p, str(texts[i]))
            if groups is not None:
                self.groups[groups[i]]["__rows__"] += 1

    def _keep_example(self, cause: str, p: float, text: str) -> None:
        # the most confident examples of each cause; for «other» the first ones seen
        self._seq += 1
        key = (p, -self._seq)
        heap = self._examples[cause]
        item = (key, text[:400] + ("…" if len(text) > 400 else ""))
        if len(heap) < self.n_examples:
            heapq.heappush(heap, item)
        elif key > heap[0][0]:
            heapq.heapreplace(heap, item)

    def pareto(self) -> pd.DataFrame:
        """Counts by category, most frequent first, with share and cumulative share of mentions."""
        rows = [(c, DISPLAY_RU[c], self.cause_counts[c]) for c in CATEGORIES]
        df = pd.DataFrame(rows, columns=["cause", "name", "count"]).sort_values("count", ascending=False, kind="stable")
        total = max(1, int(df["count"].sum()))
        df["share"] = df["count"] / total
        df["cumulative"] = df["share"].cumsum()
        df["of_complaints"] = df["count"] / max(1, self.tagged)
        df["recovery_rate"] = [self.recovered[c] / n if n else 0.0 for c, n in zip(df["cause"], df["count"])]
        return df.reset_index(drop=True)

    def html(self, title: str = "Complaint root causes") -> str:
        """The whole report page, charts embedded as SVG: it opens offline."""
        pareto = self.pareto()
        esc = html.escape
        pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
        recovery = self.recovered_total / self.tagged if self.tagged else 0.0
        cards = [
            ("Rows", f"{self.rows:,}"), ("Tagged", f"{self.tagged:,}"),
            ("Recovery attempted", pct(recovery)),
            ("Other (no listed cause)", pct(self.cause_counts[OTHER] / self.tagged if self.tagged else 0)),
            ("Not Russian", pct(self.status["not_russian"] / self.rows if self.rows else 0)),
            ("Empty", pct(self.status["empty_text"] / self.rows if self.rows else 0)),
        ]
        table = "".join(
            f"<tr><td>{esc(r.name)} <code>{esc(r.cause)}</code></td><td>{r.count:,}</td><td>{pct(r.share)}</td>"
            f"<td>{pct(r.cumulative)}</td><td>{pct(r.of_complaints)}</td><td>{pct(r.recovery_rate)}</td></tr>"
            for r in pareto.itertuples())
        examples = "".join(
            f"<h3>{esc(DISPLAY_RU[c])}</h3><ul>"
            + "".join(f"<li>{esc(t)}</li>" for _, t in sorted(self._examples[c], reverse=True)) + "</ul>"
            for c in pareto["cause"] if self._examples.get(c))
        groups = self._groups_html() if self.groups else ""
        return f"""<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}}
.cards{{display:flex;gap:1rem;flex-wrap:wrap}} .card{{background:#f4f6fa;border-radius:8px;padding:.8rem 1.2rem;min-width:140px}}
.card b{{display:block;font-size:1.5rem}} table{{border-collapse:collapse;margin:1rem 0;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:right}} td:first-child,th:first-child{{text-align:left}}
code{{color:#666;font-size:.8em}} li{{margin:.3rem 0}} .chart svg{{max-width:100%;height:auto}}
</style></head><body>
<h1>{esc(title)}</h1>
<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. A complaint may carry several causes, so shares are
of cause mentions; «% of complaints» is of tagged rows.</p>
<div class="cards">{"".join(f'<div class="card">{esc(k)}<b>{v}</b></div>' for k, v in cards)}</div>
<h2>Pareto of root causes</h2>
<div class="chart">{self._pareto_svg(pareto)}</div>
<table><tr><th>Cause</th><th>Count</th><th>Share</th><th>Cumulative</th><th>% of complaints</th>
<th>Recovery attempted</th></tr>{table}</table>
{groups}
<h2>Examples</h2>{examples}
</body></html>
"""

    def _groups_html(self) -> str:
        by = self.by_month or self.by
        label = f"month of «{by}»" if self.by_month else f"«{by}»"
        keys = sorted(self.groups) if self.by_month else sorted(self.groups, key=lambda g: -self.groups[g]["__rows__"])
        head = "".join(f"<th>{html.escape(DISPLAY_RU[c])}</th>" for c in CATEGORIES)
        body = "".join(
            f"<tr><td>{html.escape(g)}</td><td>{self.groups[g]['__rows__']:,}</td>"
            + "".join(f"<td>{self.groups[g][c]:,}</td>" for c in CATEGORIES) + "</tr>"
            for g in keys[:50])
        more = f"<p>{len(keys) - 50} more groups not shown.</p>" if len(keys) > 50 else ""
        return f"<h2>By {html.escape(label)}</h2><table><tr><th>Group</th><th>Rows</th>{head}</tr>{body}</table>{more}"

    def _pareto_svg(self, pareto: pd.DataFrame) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 4.2))
        names = [n.replace(" ", "\n", 1) for n in pareto["name"]]
        ax.bar(names, pareto["count"], color="#4c72b0")
        ax.set_ylabel("complaints")
        ax2 = ax.twinx()
        ax2.plot(names, 100 * pareto["cumulative"], color="#dd8452", marker="o")
        ax2.axhline(80, color="#999", linestyle="--", linewidth=1)
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("cumulative share, %")
        for x, (n, s) in enumerate(zip(pareto["count"], pareto["share"])):
            ax.annotate(f"{n:,}\n{100 * s:.0f}%", (x, n), ha="center", va="bottom", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
        svg = buf.getvalue()
        return svg[svg.index("<svg"):]

    def write(self, path: str | Path, title: str = "Complaint root causes") -> None:
        """Write the page to ``path`` (through a temporary file)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_text(self.html(title), encoding="utf-8")
        tmp.replace(path)
