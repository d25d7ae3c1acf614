"""Texts of a large CSV/TSV/JSONL/Parquet file read in chunks with bounded memory (batch scoring), and rows written
to JSONL, CSV or Parquet one chunk at a time. Parquet needs pyarrow (the `recommender` extra, or `pip install
pyarrow`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tunelab.errors import DataError, DataProblem, UsageError

csv.field_size_limit(2**31 - 1)
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class TextRow:
    """One input text with where it came from: `line` is the 1-based data row (the header is not counted)."""

    line: int
    text: str


def file_format(path: Path, what: str = "input") -> str:
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise UsageError(f"{path}: cannot tell the {what} format from the extension {path.suffix!r}",
                         hint="use .csv, .tsv, .jsonl or .parquet")
    return found


def _pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("Parquet needs pyarrow", hint="pip install 'tunelab[recommender]' (or pyarrow)") from None
    return pq


def iter_texts(path: Path, column: str) -> Iterator[TextRow | DataProblem]:
    """Every row's text in file order, or a problem for a row without a usable text; one row in memory at a time
    (CSV/TSV/JSONL) or one Parquet record batch."""
    kind = file_format(path)
    if kind == "parquet":
        yield from _parquet_texts(path, column)
    elif kind == "jsonl":
        yield from _jsonl_texts(path, column)
    else:
        yield from _csv_texts(path, column, "\t" if kind == "tsv" else ",")


def _checked(path: Path, line: int, value: Any, column: str) -> TextRow | DataProblem:
    if not isinstance(value, str):
        return DataProblem(str(path), f"{column!r} is {type(value).__name__}, not text", line=line, column=column)
    if not value.strip():
        return DataProblem(str(path), f"empty text in {column!r}", line=line, column=column)
    return TextRow(line, value)


def _csv_texts(path: Path, column: str, delimiter: str) -> Iterator[TextRow | DataProblem]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        if column not in header:
            raise UsageError(f"{path}: no column {column!r} in the header (columns: {', '.join(header) or 'none'})",
                             hint="pass --text-column NAME")
        index = header.index(column)
        for number, row in enumerate(reader, start=1):
            if not row:
                continue
            yield _checked(path, number, row[index] if index < len(row) else None, column)


def _jsonl_texts(path: Path, column: str) -> Iterator[TextRow | DataProblem]:
    with open(path, encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                yield DataProblem(str(path), f"not JSON: {exc.msg}", line=number)
                continue
            if not isinstance(record, dict):
                yield DataProblem(str(path), "each line must be a JSON object", line=number)
                continue
            yield _checked(path, number, record.get(column), column)


def _parquet_texts(path: Path, column: str) -> Iterator[TextRow | DataProblem]:
    handle = _pyarrow().ParquetFile(path)
    if column not in handle.schema_arrow.names:
        raise UsageError(f"{path}: no column {column!r} (columns: {', '.join(handle.schema_arrow.names)})",
                         hint="pass --text-column NAME")
    number = 0
    for batch in handle.iter_batches(batch_size=8192, columns=[column]):
        for value in batch.column(0).to_pylist():
            number += 1
            yield _checked(path, number, value, column)


def count_rows(path: Path, column: str) -> int:
    """The number of texts in the file; raises DataError with every bad row (up to 50) before any work starts."""
    problems: list[DataProblem] = []
    count = 0
    for found in iter_texts(path, column):
        if isinstance(found, DataProblem):
            problems.append(found)
            if len(problems) >= MAX_PROBLEMS:
                break
        else:
            count += 1
    if problems:
        raise DataError(problems, hint="fix or drop these rows; nothing was scored")
    if not count:
        raise DataError([DataProblem(str(path), "no texts in the file")])
    return count


def chunks(path: Path, column: str, size: int) -> Iterator[list[TextRow]]:
    """The file's texts in chunks of `size` (the last one shorter); call after `count_rows` passed."""
    chunk: list[TextRow] = []
    for found in iter_texts(path, column):
        if isinstance(found, TextRow):
            chunk.append(found)
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class RowWriter:
    """Rows (flat dicts with the same keys) appended chunk by chunk to a CSV, TSV, JSONL or Parquet file."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self._handle: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.kind == "parquet":
            self._write_parquet(rows)
        elif self.kind == "jsonl":
            self._open().writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        else:
            if self._csv is None:
                self._csv = csv.DictWriter(self._open(), fieldnames=list(rows[0]),
                                           delimiter="\t" if self.kind == "tsv" else ",", extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerows(rows)

    def _open(self) -> IO[str]:
        if self._handle is None:
            self._handle = open(self.path, "w", encoding="utf-8", newline="")
        return self._handle

    def _write_parquet(self, rows: Sequence[dict[str, Any]]) -> None:
        import pyarrow as pa

        pq = _pyarrow()
        if self._parquet is None:
            table = pa.Table.from_pylist(list(rows))
            self._parquet = pq.ParquetWriter(self.path, table.schema)
        else:
            table = pa.Table.from_pylist(list(rows), schema=self._parquet.schema)
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()
