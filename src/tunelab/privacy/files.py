"""Redact the text columns of a CSV, TSV or JSONL training file, with a report of what was found per column."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.artifacts.files import write_text_atomic
from tunelab.data.encoding import read_text
from tunelab.data.jsonlines import describe_type, iter_json_records
from tunelab.data.tables import iter_csv_rows, missing_column_problem
from tunelab.errors import DataError, DataProblem, UsageError
from tunelab.privacy.redactor import Redactor

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DELIMITERS = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class FileReport:
    """What `redact_file` did: rows read, and per column the count of each type found (and redacted)."""

    source: str
    output: str
    format: str
    mode: str
    types: tuple[str, ...]
    rows: int
    found: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> type -> count

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self.found.values())

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "output": self.output, "format": self.format, "mode": self.mode,
                "types": list(self.types), "rows": self.rows, "total": self.total, "found": self.found}


def file_format(path: Path, given: str | None) -> str:
    if given is not None and given not in DELIMITERS and given != "jsonl":
        raise UsageError(f"--format must be csv, tsv or jsonl, not {given!r}")
    name = given or FORMATS.get(path.suffix.lower())
    if name is None:
        raise UsageError(f"cannot tell the format of {path}", hint="name it .csv, .tsv or .jsonl, or pass --format")
    return name


def redact_file(source: str | Path, output: str | Path, redactor: Redactor, *, columns: Sequence[str] = ("text",),
                format: str | None = None) -> FileReport:
    """Read `source`, redact `columns` of every row, write `output` atomically (nothing is written when any row
    has a problem: DataError lists them all with their line and column)."""
    source, output = Path(source), Path(output)
    if source.resolve() == output.resolve():
        raise UsageError("the output would overwrite the input", hint="write to another file")
    kind = file_format(source, format)
    text, problems = read_text(source)
    if text is None or problems:
        raise DataError(problems or [DataProblem(str(source), "cannot read the file")])
    counts: dict[str, Counter[str]] = {name: Counter() for name in columns}
    if kind == "jsonl":
        rows, written = _redact_jsonl(text, str(source), redactor, columns, counts)
    else:
        rows, written = _redact_delimited(text, str(source), DELIMITERS[kind], redactor, columns, counts)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output, written)
    return FileReport(str(source), str(output), kind, redactor.policy.mode, redactor.policy.types, rows,
                      {name: dict(sorted(c.items())) for name, c in counts.items()})


def _redact_cells(values: list[str], redactor: Redactor, column: str, counts: dict[str, Counter[str]]) -> list[str]:
    redacted = redactor.redact_many(values)
    counts[column].update(f.type for r in redacted for f in r.findings)
    return [r.text for r in redacted]


def _redact_delimited(text: str, path: str, delimiter: str, redactor: Redactor, columns: Sequence[str],
                      counts: dict[str, Counter[str]]) -> tuple[int, str]:
    rows = list(iter_csv_rows(text, delimiter))
    if not rows:
        raise DataError([DataProblem(path, "the file is empty (expected a header row)")])
    header = [h.strip() for h in rows[0][1]]
    problems = [missing_column_problem(path, name, "--columns", header) for name in columns if name not in header]
    problems += [DataProblem(path, f"record has {len(row)} fields but the header has {len(header)}; quote fields "
                                   f"that contain the separator or line breaks", line=line)
                 for line, row in rows[1:] if len(row) != len(header)]
    if problems:
        raise DataError(problems)
    body = [row for _line, row in rows[1:]]
    for name in columns:
        index = header.index(name)
        for row, value in zip(body, _redact_cells([row[index] for row in body], redactor, name, counts)):
            row[index] = value
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerows([rows[0][1], *body])
    return len(body), buffer.getvalue()


def _redact_jsonl(text: str, path: str, redactor: Redactor, columns: Sequence[str],
                  counts: dict[str, Counter[str]]) -> tuple[int, str]:
    problems: list[DataProblem] = []
    records = list(iter_json_records(text, path, problems))
    for line, record in records:
        for name in columns:
            value = record.get(name)
            if name in record and value is not None and not isinstance(value, str):
                problems.append(DataProblem(path, f"field {name!r} is {describe_type(value)}, expected text",
                                            line=line, column=name))
    if not problems and records and not any(name in r for _l, r in records for name in columns):
        problems.append(DataProblem(path, f"no record has the field(s) {', '.join(map(repr, columns))} "
                                          "(pick them with --columns)", line=records[0][0]))
    if problems:
        raise DataError(problems)
    for name in columns:
        holders = [r for _line, r in records if isinstance(r.get(name), str)]
        for record, value in zip(holders, _redact_cells([r[name] for r in holders], redactor, name, counts)):
            record[name] = value
    return len(records), "".join(json.dumps(r, ensure_ascii=False) + "\n" for _line, r in records)

