"""Read a table (CSV, TSV, JSONL or Parquet) as (line, {column: text}) records, keeping line numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunelab.data.encoding import read_text
from tunelab.data.jsonlines import iter_json_records
from tunelab.data.tables import iter_csv_rows
from tunelab.errors import DataProblem

EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Table:
    """A file's records: the column names and, per record, its first line (row number for Parquet) and cells."""

    path: str
    columns: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]


def read_table(path: Path) -> tuple[Table | None, list[DataProblem]]:
    """Every record of `path` as strings (JSON values as written); None and the problems when unreadable."""
    kind = EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        return None, [DataProblem(str(path), f"cannot tell the format of {path.name!r}; use .csv, .tsv, .jsonl or "
                                             ".parquet")]
    if not path.is_file():
        return None, [DataProblem(str(path), "no such file")]
    if kind == "parquet":
        return _read_parquet(path), []
    text, problems = read_text(path)
    if text is None:
        return None, problems
    if kind == "jsonl":
        return _read_jsonl(text, str(path), problems), problems
    return _read_delimited(text, str(path), "\t" if kind == "tsv" else ",", problems), problems


def _read_delimited(text: str, path: str, delimiter: str, problems: list[DataProblem]) -> Table | None:
    rows = iter_csv_rows(text, delimiter)
    first = next(rows, None)
    if first is None:
        problems.append(DataProblem(path, "the file is empty (expected a header row)"))
        return None
    header = [h.strip().lstrip("\ufeff") for h in first[1]]
    records: list[tuple[int, dict[str, str]]] = []
    for line, row in rows:
        if len(row) != len(header):
            problems.append(DataProblem(path, f"record has {len(row)} fields but the header has {len(header)}",
                                        line=line))
            continue
        records.append((line, dict(zip(header, (cell.strip() for cell in row)))))
    return Table(path, tuple(header), records)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return "|".join(_cell(v) for v in value)
    return json.dumps(value)


def _read_jsonl(text: str, path: str, problems: list[DataProblem]) -> Table:
    records = [(line, {k: _cell(v) for k, v in record.items()}) for line, record in
               iter_json_records(text, path, problems)]
    columns = tuple(dict.fromkeys(k for _, r in records for k in r))
    return Table(path, columns, records)


def _read_parquet(path: Path) -> Table:
    from tunelab.extras import require

    parquet = require("pyarrow.parquet", "reading Parquet files")
    data = parquet.read_table(str(path)).to_pylist()
    columns = tuple(dict.fromkeys(k for r in data[:1] for k in r))
    return Table(str(path), columns, [(i + 1, {k: _cell(v) for k, v in r.items()}) for i, r in enumerate(data)])
