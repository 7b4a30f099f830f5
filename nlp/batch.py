"""Tagging a whole log file: stream chunks in, tag them, write them out, count everything."""
from __future__ import annotations

import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .labels import CAUSES
from .logio import LogError, LogWriter, RejectWriter, find_column, log_format, open_log
from .report import ReportBuilder
from .tagger import ComplaintTagger, _score_in_worker, resolve_jobs, worker_pool

OUTPUT_COLUMNS = ("root_causes", *(f"p_{c}" for c in CAUSES), "recovery", "p_recovery", "tag_status")


@dataclass
class Summary:
    """What a run did: row counts by outcome, time, and where the outputs went."""

    rows_read: int = 0  # every record met, rejected ones included
    written: int = 0
    rejected: int = 0
    status: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    output: str = ""
    rejects_file: str | None = None
    bad_byte_lines: int = 0
    encoding: str | None = None

    def line(self) -> str:
        s = self.status
        rate = self.rows_read / self.seconds if self.seconds else 0.0
        parts = [f"rows read {self.rows_read:,}", f"written {self.written:,}",
                 f"tagged {s['ok'] + s['truncated']:,}", f"empty {s['empty_text']:,}",
                 f"not Russian {s['not_russian']:,}", f"truncated {s['truncated']:,}",
                 f"rejected {self.rejected:,}", f"time {self.seconds:.1f}s ({rate:,.0f} rows/s)"]
        text = "; ".join(parts)
        if self.rejects_file:
            text += f"\nrejected records (with line numbers and reasons): {self.rejects_file}"
        if self.bad_byte_lines:
            text += (f"\nwarning: {self.bad_byte_lines} line(s) had bytes that are not valid {self.encoding};"
                     " they were replaced with «�» — pass --encoding if the guess was wrong")
        return text


def rejects_path(output: Path) -> Path:
    """``out/tagged.csv`` → ``out/tagged.rejects.csv``."""
    return output.with_name(output.name[: -len(output.suffix)] + ".rejects.csv")


def _bounded_map(pool, chunks, col: str, ahead: int):
    """Ordered (chunk, scores) with at most ``ahead`` chunks in flight, so memory stays flat."""
    pending: deque = deque()
    for chunk in chunks:
        pending.append((chunk, pool.submit(_score_in_worker, chunk[0][col].tolist())))
        if len(pending) >= ahead:
            item, fut = pending.popleft()
            yield item, fut.result()
    while pending:
        item, fut = pending.popleft()
        yield item, fut.result()


def tag_file(tagger: ComplaintTagger, input_path: str | Path, output_path: str | Path, *,
             text_column: str | None = None, id_column: str | None = None, chunk_size: int = 20_000,
             jobs: int = 1, force: bool = False, encoding: str | None = None, delimiter: str | None = None,
             report: ReportBuilder | None = None, progress: bool | None = None) -> Summary:
    """Tag every row of ``input_path`` into ``output_path``; unparseable rows go to a rejects file.

    Raises :class:`nlp.logio.LogError` (one clear line) for anything that stops the run before it starts.
    """
    src, dst = Path(input_path), Path(output_path)
    out_fmt = log_format(dst)
    reader = open_log(src, encoding=encoding, delimiter=delimiter)
    if dst.exists() and dst.resolve() == src.resolve():
        raise LogError(f"{dst}: the output would overwrite the input; choose another -o")
    if dst.exists() and not force:
        raise LogError(f"{dst} already exists; pass --force to overwrite it")
    if dst.parent and not dst.parent.exists():
        raise LogError(f"{dst.parent}: no such directory for the output")
    col = find_column(reader.columns, text_column)
    if id_column is not None:
        find_column(reader.columns, id_column, what="id")
    clash = [c for c in reader.columns if c in OUTPUT_COLUMNS]
    if clash:
        raise LogError(f"the input already has output column(s) {clash}; rename them or tag the untagged log")
    if report is not None:
        report.text_column = col
        report.check_columns(reader.columns)

    # CSV out keeps the input's delimiter (Russian Excel expects «;» otherwise); .tsv means tab
    delimiter = "\t" if dst.suffix.lower() == ".tsv" else reader.delimiter or ";"
    writer = LogWriter(dst, out_fmt, delimiter=delimiter)
    rejects = RejectWriter(rejects_path(dst))
    summary = Summary(output=str(dst), encoding=reader.encoding)
    start = time.perf_counter()
    bar = _progress_bar(reader, progress)
    jobs = resolve_jobs(jobs)
    pool = worker_pool(tagger, jobs) if jobs > 1 else None
    try:
        chunks = reader.chunks(chunk_size)
        if pool is None:
            results = ((chunk, tagger.score(chunk[0][col].tolist())) for chunk in chunks)
        else:
            results = _bounded_map(pool, chunks, col, ahead=2 * jobs)
        done_bytes = 0
        for (df, rej), (P, statuses) in results:
            tags = tagger.columns(P, statuses)
            tags.index = df.index
            out = pd.concat([_for_output(df, out_fmt, reader.format), tags], axis=1)
            writer.write(out)
            rejects.add(rej)
            if report is not None:
                report.add(out)
            summary.rows_read += len(df) + len(rej)
            summary.written += len(df)
            summary.rejected += len(rej)
            summary.status.update(statuses)
            if bar is not None:
                step = reader.progress_bytes - done_bytes if reader.progress_bytes else len(df)
                done_bytes = reader.progress_bytes
                bar.update(step)
        if writer.rows == 0:
            writer.write(pd.concat([pd.DataFrame(columns=reader.columns),
                                    tagger.columns(*tagger.score([]))], axis=1))
        writer.commit()
        if rejects.rows:
            rejects.commit()
            summary.rejects_file = str(rejects.path)
    except BaseException:
        writer.discard()
        rejects.discard()
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - start
    summary.bad_byte_lines = len(reader.bad_byte_lines)
    return summary


def _for_output(df: pd.DataFrame, out_fmt: str, in_fmt: str) -> pd.DataFrame:
    # Parquet needs one type per column across chunks; cells read from text
    # formats are strings or missing, so they are written as strings.
    if out_fmt == "parquet" and in_fmt != "parquet":
        return df.astype("string")
    return df


def _progress_bar(reader, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    if reader.format in ("csv", "jsonl"):
        return tqdm(total=reader.size, unit="B", unit_scale=True, desc="tagging", file=sys.stderr)
    return tqdm(total=reader.rows_total, unit="rows", desc="tagging", file=sys.stderr)


def report_file(tagged_path: str | Path, output: str | Path, *, text_column: str | None = None,
                by: str | None = None, by_month: str | None = None, chunk_size: int = 50_000) -> ReportBuilder:
    """Build the HTML report from a file written by ``complaints tag``."""
    reader = open_log(tagged_path)
    missing = [c for c in ("root_causes", "recovery", "tag_status") if c not in reader.columns]
    if missing:
        raise LogError(f"{tagged_path}: no column(s) {missing}; report on a file written by `complaints tag`")
    builder = ReportBuilder(text_column=find_column(reader.columns, text_column), by=by, by_month=by_month)
    builder.check_columns(reader.columns)
    for df, _ in reader.chunks(chunk_size):
        for c in df.columns:
            if c.startswith("p_"):
                df[c] = pd.to_numeric(df[c], errors="coerce")
        builder.add(df)
    builder.write(output, title=f"Complaint root causes — {Path(tagged_path).name}")
    return builder

