"""Reading and writing complaint logs: CSV/TSV, XLSX, JSONL, Parquet, in chunks.

Readers yield ``(DataFrame chunk, rejects)``: rows that could not be parsed
come back as :class:`Reject` records with their line number, never dropped.
Writers write to a hidden temporary file that :meth:`LogWriter.commit`
renames into place, so an interrupted run leaves no half-written output.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

TEXT_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                ".xlsx": "xlsx", ".parquet": "parquet"}
TEXT_COLUMN_NAMES = ("text", "текст", "текст обращения", "обращение", "жалоба", "комментарий",
                     "комментарий клиента", "описание", "сообщение", "отзыв", "review", "comment", "message")
_DELIMITERS = (";", ",", "\t", "|")
_CYRILLIC_ENCODINGS = ["cp1251", "koi8_r", "cp866", "mac_cyrillic", "iso8859_5"]
#: A quoted cell may span lines, but a record longer than this is an unterminated quote.
MAX_RECORD_LINES = 500
XLSX_MAX_ROWS = 1_048_575
_SAMPLE_BYTES = 1 << 18


class LogError(Exception):
    """A log that cannot be read or written; the message says what to do."""


@dataclass(frozen=True)
class Reject:
    """An input record that could not be parsed."""

    line: int
    reason: str
    raw: str


def log_format(path: str | Path) -> str:
    """``csv``, ``jsonl``, ``xlsx`` or ``parquet`` from the file name.

    >>> log_format("выгрузка.CSV")
    'csv'
    """
    fmt = TEXT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise LogError(f"{path}: unknown format {Path(path).suffix or '(no extension)'}; "
                       f"use one of {', '.join(sorted(TEXT_FORMATS))}")
    return fmt


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) or the most likely Cyrillic code page of a byte sample.

    >>> detect_encoding("Не могу дозвониться до оператора уже третий день".encode("cp1251"))
    'cp1251'
    """
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        if e.start >= len(sample) - 3 and e.reason.startswith("unexpected end"):
            return "utf-8"  # the sample cut a character in two
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=_CYRILLIC_ENCODINGS).best()
    if best is not None:
        return best.encoding
    return _cyrillic_by_case(sample)


def _cyrillic_by_case(sample: bytes) -> str:
    # charset-normalizer gives up on short or tabular samples. Russian text is
    # mostly lower case, which cp1251 keeps at 0xE0-0xFF, KOI8-R at 0xC0-0xDF
    # and cp866 at 0xA0-0xAF: the busiest range names the code page.
    counts = {"cp1251": 0, "koi8_r": 0, "cp866": 0}
    for b in sample:
        if b >= 0xE0:
            counts["cp1251"] += 1
        elif b >= 0xC0:
            counts["koi8_r"] += 1
        elif 0xA0 <= b <= 0xAF:
            counts["cp866"] += 1
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        raise LogError("cannot tell the file's encoding; pass --encoding (utf-8, cp1251, koi8-r …)")
    return best


def sniff_delimiter(sample: str) -> str:
    """The delimiter among ``;`` ``,`` tab ``|`` that splits the sample's records most consistently.

    >>> sniff_delimiter('id;текст\\n1;"Долго, очень долго"\\n')
    ';'
    """
    lines = sample.splitlines()[:50]
    if len(lines) > 1 and not sample.endswith("\n"):
        lines = lines[:-1]  # the last line of a sample may be cut short
    best, best_score = ",", (-1.0, 0)
    for d in _DELIMITERS:
        try:
            rows = list(csv.reader(lines, delimiter=d))
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(r) == width for r in rows) / len(rows), width)
        if score > best_score:
            best, best_score = d, score
    return best


class _LineFeed:
    """Physical lines for csv.reader, remembering the lines of the record being read."""

    def __init__(self, raw, encoding: str):
        self.raw = raw
        self.encoding = encoding
        self.line_no = 0
        self.bytes_read = 0
        self.record: list[tuple[int, str]] = []
        self.replay: list[tuple[int, str]] = []
        self.bad_bytes: list[int] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.replay:
            n, line = self.replay.pop(0)
        else:
            data = self.raw.readline()
            if not data:
                raise StopIteration
            self.bytes_read += len(data)
            self.line_no += 1
            n = self.line_no
            try:
                line = data.decode(self.encoding)
            except UnicodeDecodeError:
                self.bad_bytes.append(n)
                line = data.decode(self.encoding, errors="replace")
        self.record.append((n, line))
        if len(self.record) > MAX_RECORD_LINES:
            raise csv.Error(f"a quoted cell runs over {MAX_RECORD_LINES} lines (unterminated quote?)")
        return line

    def take(self) -> list[tuple[int, str]]:
        rec, self.record = self.record, []
        return rec


@dataclass
class LogReader:
    """An open log: its format, columns and how to read it in chunks."""

    path: Path
    format: str
    columns: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    size: int = 0
    rows_total: int | None = None
    bad_byte_lines: list[int] = field(default_factory=list)
    progress_bytes: int = 0

    def chunks(self, chunk_size: int = 20_000) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
        """DataFrames of at most ``chunk_size`` rows (all cells as read) and the rejects among them."""
        return getattr(self, f"_chunks_{self.format}")(max(1, chunk_size))

    # -- CSV -----------------------------------------------------------------------------------
    def _chunks_csv(self, chunk_size):
        width = len(self.columns)
        with self.path.open("rb") as raw:
            feed = _LineFeed(raw, self.encoding)
            rows: list[list[str]] = []
            rejects: list[Reject] = []
            header_seen = False
            for first_line, fields, error, lines in _csv_records(feed, self.delimiter):
                if not header_seen:
                    header_seen = True
                    continue
                if error is None and (not fields or fields == [""]) and len(lines) == 1:
                    continue  # a blank line is not a row
                if error is None and len(fields) != width:
                    error = f"{len(fields)} fields where the header has {width}"
                if error is not None:
                    rejects.append(Reject(first_line, error, "".join(l for _, l in lines).rstrip("\r\n")))
                else:
                    rows.append(fields)
                if len(rows) >= chunk_size:
                    self.progress_bytes = feed.bytes_read
                    yield pd.DataFrame(rows, columns=self.columns, dtype=object), rejects
                    rows, rejects = [], []
            self.bad_byte_lines = feed.bad_bytes
            self.progress_bytes = feed.bytes_read
            if rows or rejects:
                yield pd.DataFrame(rows, columns=self.columns, dtype=object), rejects

    # -- JSONL ---------------------------------------------------------------------------------
    def _chunks_jsonl(self, chunk_size):
        rows, rejects = [], []
        with self.path.open("rb") as raw:
            for n, data in enumerate(raw, 1):
                self.progress_bytes += len(data)
                try:
                    line = data.decode("utf-8-sig" if n == 1 else "utf-8")
                except UnicodeDecodeError as e:
                    rejects.append(Reject(n, f"not valid UTF-8 (byte {e.start}); JSONL must be UTF-8",
                                          data.decode("utf-8", errors="replace").rstrip("\r\n")))
                    continue
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    rejects.append(Reject(n, f"not valid JSON ({e.msg})", line.rstrip("\r\n")))
                    continue
                if not isinstance(rec, dict):
                    rejects.append(Reject(n, "not a JSON object", line.rstrip("\r\n")))
                    continue
                rows.append(rec)
                if len(rows) >= chunk_size:
                    yield _frame(rows, self.columns), rejects
                    rows, rejects = [], []
        if rows or rejects:
            yield _frame(rows, self.columns), rejects

    # -- XLSX ----------------------------------------------------------------------------------
    def _chunks_xlsx(self, chunk_size):
        wb = _open_workbook(self.path)
        try:
            it = wb.worksheets[0].iter_rows(values_only=True)
            next(it, None)  # header
            rows, rejects, width = [], [], len(self.columns)
            for n, values in enumerate(it, 2):
                extra = [v for v in values[width:] if v is not None]
                values = list(values[:width]) + [None] * (width - len(values))
                if extra:
                    # cells right of the header have no column to go to: report the row, do not cut it
                    rejects.append(Reject(n, f"{len(extra)} filled cell(s) right of the last header column",
                                          "\t".join("" if v is None else str(v) for v in values + extra)))
                    continue
                if all(v is None for v in values):
                    continue
                rows.append(values)
                if len(rows) >= chunk_size:
                    yield pd.DataFrame(rows, columns=self.columns, dtype=object), rejects
                    rows, rejects = [], []
            if rows or rejects:
                yield pd.DataFrame(rows, columns=self.columns, dtype=object), rejects
        finally:
            wb.close()

    # -- Parquet -------------------------------------------------------------------------------
    def _chunks_parquet(self, chunk_size):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas(), []


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def _csv_records(feed: _LineFeed, delimiter: str):
    """(first line number, fields, error, physical lines) per CSV record.

    A record that csv cannot parse (an unterminated or stray quote) is
    reported on its first physical line, and parsing resumes on the line after.
    """
    while True:
        reader = csv.reader(feed, delimiter=delimiter, strict=True)
        try:
            for fields in reader:
                lines = feed.take()
                yield lines[0][0], fields, None, lines
            return
        except csv.Error as e:
            lines = feed.take()
            if not lines:
                return
            yield lines[0][0], None, f"unparseable CSV ({e})", lines[:1]
            feed.replay = lines[1:] + feed.replay


def _open_workbook(path: Path):
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a broken archive
        raise LogError(f"{path}: not a readable XLSX workbook ({type(e).__name__}: {e})") from None


_MAGIC = {"xlsx": b"PK\x03\x04", "parquet": b"PAR1"}


def open_log(path: str | Path, encoding: str | None = None, delimiter: str | None = None) -> LogReader:
    """Check a log file and read its header: format by extension, content checked.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> _ = open(p, "w", encoding="cp1251").write("№;Текст обращения\\n1;Не дозвониться\\n")
    >>> r = open_log(p)
    >>> r.encoding, r.delimiter, r.columns
    ('cp1251', ';', ['№', 'Текст обращения'])
    """
    path = Path(path)
    fmt = log_format(path)
    if not path.exists():
        raise LogError(f"{path}: no such file")
    if path.is_dir():
        raise LogError(f"{path}: is a directory, not a log file")
    size = path.stat().st_size
    if size == 0:
        raise LogError(f"{path}: the file is empty")
    with path.open("rb") as f:
        sample = f.read(_SAMPLE_BYTES)
    for other, magic in _MAGIC.items():
        if sample.startswith(magic) and fmt != other:
            raise LogError(f"{path}: looks like {other.upper()} inside, not {fmt.upper()}; rename it to .{other}")
    if fmt in _MAGIC and not sample.startswith(_MAGIC[fmt]):
        raise LogError(f"{path}: not a valid {fmt.upper()} file (wrong signature); export it again")
    reader = LogReader(path, fmt, [], size=size)
    if fmt == "csv":
        reader.encoding = encoding or detect_encoding(sample)
        text = sample.decode(reader.encoding, errors="replace")
        reader.delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(text))
        with path.open("rb") as raw:
            header = next(_csv_records(_LineFeed(raw, reader.encoding), reader.delimiter), None)
        if header is None or header[2] is not None or not any(c.strip() for c in header[1]):
            raise LogError(f"{path}: no header row; the first line must name the columns")
        reader.columns = [c.strip() for c in header[1]]
    elif fmt == "jsonl":
        # every key of every record: a key first seen on row 900,000 still needs its column
        keys: dict[str, None] = {}
        with path.open(encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    keys.update(dict.fromkeys(rec))
        if not keys:
            raise LogError(f"{path}: no JSON object in the file; expected one object per line")
        reader.columns = list(keys)
    elif fmt == "xlsx":
        wb = _open_workbook(path)
        try:
            ws = wb.worksheets[0]
            header = next(ws.iter_rows(max_row=1, values_only=True), None)
            reader.rows_total = max(0, (ws.max_row or 1) - 1)
        finally:
            wb.close()
        if not header or all(v is None for v in header):
            raise LogError(f"{path}: the first sheet has no header row")
        reader.columns = [str(v).strip() if v is not None else f"column_{i + 1}" for i, v in enumerate(header)]
    else:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as e:
            raise LogError(f"{path}: not a readable Parquet file ({e})") from None
        reader.columns = list(pf.schema_arrow.names)
        reader.rows_total = pf.metadata.num_rows
    return reader


def _fold(name: str) -> str:
    return re.sub(r"\s+", " ", str(name).strip().lower().replace("ё", "е"))


def find_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...] = TEXT_COLUMN_NAMES,
                what: str = "text") -> str:
    """The column named ``wanted`` (case-insensitive), else the first known text-column name.

    >>> find_column(["Дата", "Текст обращения"], None)
    'Текст обращения'
    """
    folded = {_fold(c): c for c in reversed(columns)}
    if wanted is not None:
        if wanted in columns:
            return wanted
        if _fold(wanted) in folded:
            return folded[_fold(wanted)]
        raise LogError(f"no column {wanted!r}; the file's columns are: {', '.join(map(repr, columns))}")
    for name in candidates:
        if name in folded:
            return folded[name]
    raise LogError(f"no {what} column found; pass --{what}-column NAME (the file's columns are: "
                   f"{', '.join(map(repr, columns))})")


# -- writing -----------------------------------------------------------------------------------
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> object:
    """OWASP CSV-injection advice: a cell that a spreadsheet would run as a formula gets a leading «'».

    >>> neutralize("=HYPERLINK(\\"http://x\\")"), neutralize("Не работает")
    ('\\'=HYPERLINK("http://x")', 'Не работает')
    """
    if isinstance(value, str) and value.startswith(_DANGEROUS):
        return "'" + value
    return value


def _cell(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _csv_column(s: pd.Series) -> list:
    """One column's cells for a CSV file: missing → empty, formulas neutralised, NumPy scalars as Python's."""
    values = s.tolist()  # NumPy scalars become Python ones here
    if s.dtype.kind in "biu":
        return values
    if s.dtype.kind == "f":
        return ["" if v != v else v for v in values] if s.isna().any() else values
    if all(type(v) is str for v in values):  # text read from a log, and our label columns: nothing missing
        return list(map(neutralize, values))
    return ["" if (v := _cell(x)) is None else neutralize(v) for x in values]


class LogWriter:
    """Writes tagged chunks to ``path`` through a temporary file; :meth:`commit` puts it in place."""

    def __init__(self, path: str | Path, fmt: str, delimiter: str = ";"):
        self.path = Path(path)
        self.format = fmt
        self.delimiter = delimiter
        self.tmp = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        self.rows = 0
        self._handle = None
        self._writer = None
        self._schema = None

    def write(self, df: pd.DataFrame) -> None:
        """Append a chunk (original columns then label columns)."""
        if self.format == "csv":
            self._write_csv(df)
        elif self.format == "jsonl":
            self._write_jsonl(df)
        elif self.format == "xlsx":
            self._write_xlsx(df)
        else:
            self._write_parquet(df)
        self.rows += len(df)

    def _flat_causes(self, df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df["root_causes"] = [";".join(c) or "other" for c in df["root_causes"]]
        return df

    def _write_csv(self, df):
        if self._handle is None:
            self._handle = self.tmp.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle, delimiter=self.delimiter)
            self._writer.writerow([neutralize(str(c)) for c in df.columns])
        df = self._flat_causes(df)
        # column by column: numbers need no neutralising and come out of NumPy in one call
        self._writer.writerows(zip(*(_csv_column(df[c]) for c in df.columns)))

    def _write_jsonl(self, df):
        if self._handle is None:
            self._handle = self.tmp.open("w", encoding="utf-8")
        cols = list(df.columns)
        lines = []
        for row in df.itertuples(index=False, name=None):
            rec = {c: _cell(v) for c, v in zip(cols, row)}
            lines.append(json.dumps(rec, ensure_ascii=False, default=str))
        self._handle.write("\n".join(lines) + "\n")

    def _write_xlsx(self, df):
        if self._writer is None:
            from openpyxl import Workbook

            self._handle = Workbook(write_only=True)
            self._writer = self._handle.create_sheet("tagged")
            self._writer.append([neutralize(str(c)) for c in df.columns])
        if self.rows + len(df) > XLSX_MAX_ROWS:
            raise LogError(f"XLSX holds at most {XLSX_MAX_ROWS:,} rows; write the output as .csv or .parquet")
        df = self._flat_causes(df)
        for row in df.itertuples(index=False, name=None):
            self._writer.append([neutralize(_xlsx_safe(_cell(v))) for v in row])

    def _write_parquet(self, df):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False, schema=self._schema)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.tmp, self._schema)
        self._writer.write_table(table)

    def commit(self) -> None:
        """Close the temporary file and rename it to the output path (atomic on one file system)."""
        self.close()
        if not self.tmp.exists():  # no chunk at all: still write a valid, empty output
            return
        os.replace(self.tmp, self.path)

    def close(self) -> None:
        if self.format == "xlsx" and self._handle is not None:
            self._handle.save(self.tmp)
            self._handle = None
        elif self.format == "parquet" and self._writer is not None:
            self._writer.close()
            self._writer = None
        elif self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        """Drop the temporary file: the run did not finish."""
        try:
            if self.format == "parquet" and self._writer is not None:
                self._writer.close()
            elif self.format != "xlsx" and self._handle is not None:
                self._handle.close()
        finally:
            self._handle = self._writer = None
            self.tmp.unlink(missing_ok=True)


_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_safe(value: object) -> object:
    # XLSX (XML) cannot hold control characters, and a cell holds 32,767 characters at most.
    if isinstance(value, str):
        value = _ILLEGAL_XLSX.sub(" ", value)
        if len(value) > 32_767:
            value = value[:32_760] + " […]"
    elif isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    return value


class RejectWriter(LogWriter):
    """Rejected records as a CSV (UTF-8 with BOM) of line number, reason and raw text."""

    def __init__(self, path: str | Path):
        super().__init__(path, "csv", ";")

    def add(self, rejects: list[Reject]) -> None:
        if not rejects:
            return
        if self._handle is None:
            self._handle = self.tmp.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle, delimiter=";")
            self._writer.writerow(["line", "reason", "raw"])
        self._writer.writerows([[r.line, r.reason, neutralize(r.raw)] for r in rejects])
        self.rows += len(rejects)
