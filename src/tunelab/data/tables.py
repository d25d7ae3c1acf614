"""Read CSV, TSV and JSONL files into TextExamples for classification and multi-label tasks."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from tunelab.config import DataConfig
from tunelab.data.jsonlines import describe_type, iter_json_records
from tunelab.errors import DataProblem
from tunelab.tasks.spec import get_spec
from tunelab.types import Source, TextExample

csv.field_size_limit(2**31 - 1)


def iter_csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first physical line, fields) for each non-empty record, multi-line fields included."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    for row in reader:
        start = previous + 1
        previous = reader.line_num
        if row and any(cell.strip() for cell in row) or len(row) > 1:
            yield start, row


def missing_column_problem(path: str, name: str, option: str, header: list[str]) -> DataProblem:
    """A missing-column problem naming the columns that exist and the option to pick one."""
    present = ", ".join(repr(h) for h in header) or "none"
    return DataProblem(path, f"no column {name!r} in the header (columns: {present}); "
                             f"pass {option} NAME to pick one", line=1, column=name)


def split_labels(value: str, separator: str) -> tuple[str, ...]:
    """Labels from one cell: split on the separator, stripped, empties and repeats dropped."""
    parts = [p.strip() for p in value.split(separator)] if separator else [value.strip()]
    return tuple(dict.fromkeys(p for p in parts if p))


def parse_cell_labels(value: str, config: DataConfig) -> tuple[str, ...]:
    """Labels of a CSV/TSV cell for the configured task."""
    if get_spec(config.task).multi_label:
        return split_labels(value, config.label_separator)
    return (value.strip(),) if value.strip() else ()


def header_columns(header: list[str], config: DataConfig, labeled: bool,
                   path: str) -> tuple[int | None, int | None, list[DataProblem]]:
    """Indexes of the text and label columns, with a problem for each one missing."""
    names = [h.strip() for h in header]
    problems: list[DataProblem] = []
    text_index = names.index(config.text_column) if config.text_column in names else None
    label_index = names.index(config.label_column) if config.label_column in names else None
    if text_index is None:
        problems.append(missing_column_problem(path, config.text_column, "--text-column", names))
    if labeled and label_index is None:
        problems.append(missing_column_problem(path, config.label_column, "--label-column", names))
    return text_index, label_index if labeled else None, problems


def build_row_example(row: list[str], width: int, columns: tuple[int, int | None], config: DataConfig,
                      source: Source) -> tuple[TextExample | None, list[DataProblem]]:
    """One CSV/TSV record as an example, or the problems that stop it being one."""
    path, line = source.path, source.line
    if len(row) != width:
        message = (f"record has {len(row)} fields but the header has {width}; "
                   "quote fields that contain the separator or line breaks")
        return None, [DataProblem(path, message, line=line)]
    text_index, label_index = columns
    problems: list[DataProblem] = []
    text = row[text_index].strip()
    if not text:
        problems.append(DataProblem(path, "empty text", line=line, column=config.text_column))
    labels: tuple[str, ...] = ()
    if label_index is not None:
        labels = parse_cell_labels(row[label_index], config)
        if not labels:
            problems.append(DataProblem(path, "missing label", line=line, column=config.label_column))
    if problems:
        return None, problems
    return TextExample(text, labels, source), []


def read_delimited(text: str, path: str, config: DataConfig, labeled: bool,
                   delimiter: str) -> tuple[list[TextExample], list[DataProblem]]:
    """Examples and problems of a CSV (delimiter ',') or TSV (delimiter '\\t') text."""
    rows = iter_csv_rows(text, delimiter)
    first = next(rows, None)
    if first is None:
        return [], [DataProblem(path, "the file is empty (expected a header row)")]
    header = first[1]
    text_index, label_index, problems = header_columns(header, config, labeled, path)
    if text_index is None or problems:
        return [], problems
    examples: list[TextExample] = []
    for line, row in rows:
        example, found = build_row_example(row, len(header), (text_index, label_index), config,
                                           Source(path, line))
        problems.extend(found)
        if example is not None:
            examples.append(example)
    return examples, problems


def label_to_str(value: Any) -> str | None:
    """A JSON scalar label as a string (numbers and booleans as written in JSON); None otherwise."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return None


def parse_json_labels(value: Any, config: DataConfig) -> tuple[tuple[str, ...] | None, str | None]:
    """Labels of a JSON value, or None and a reason when the value cannot be labels."""
    if value is None:
        return None, "missing label"
    if isinstance(value, list):
        items = [label_to_str(v) for v in value]
        if any(item is None for item in items):
            return None, "labels must be strings or numbers"
        labels = tuple(dict.fromkeys(i for i in items if i))
        if get_spec(config.task).multi_label:
            return labels, None
        if len(labels) != 1:
            return None, f"classification needs exactly one label, got {len(labels)}"
        return labels, None
    label = label_to_str(value)
    if label is None:
        return None, f"label must be a string or number, got {describe_type(value)}"
    labels = split_labels(label, config.label_separator) if get_spec(config.task).multi_label else (label,)
    return (labels, None) if labels and labels[0] else (None, "missing label")


def json_text(record: dict[str, Any], config: DataConfig, path: str,
              line: int) -> tuple[str | None, DataProblem | None]:
    """The stripped text of a JSON record, or the problem with it."""
    key = config.text_column
    if key not in record:
        keys = ", ".join(repr(k) for k in record) or "none"
        return None, DataProblem(path, f"no key {key!r} (keys: {keys}); pass --text-column NAME to pick one",
                                 line=line, column=key)
    value = record[key]
    if value is not None and not isinstance(value, str):
        return None, DataProblem(path, f"text must be a string, got {describe_type(value)}", line=line, column=key)
    if not value or not value.strip():
        return None, DataProblem(path, "empty text", line=line, column=key)
    return value.strip(), None


def build_json_example(record: dict[str, Any], config: DataConfig, labeled: bool,
                       source: Source) -> tuple[TextExample | None, list[DataProblem]]:
    """One JSONL record as an example, or its problems."""
    problems: list[DataProblem] = []
    text, problem = json_text(record, config, source.path, source.line)
    if problem is not None:
        problems.append(problem)
    labels: tuple[str, ...] | None = ()
    if labeled:
        labels, reason = parse_json_labels(record.get(config.label_column), config)
        if reason is not None:
            problems.append(DataProblem(source.path, reason, line=source.line, column=config.label_column))
    if problems or text is None or labels is None:
        return None, problems
    return TextExample(text, labels, source), []


def read_jsonl(text: str, path: str, config: DataConfig,
               labeled: bool) -> tuple[list[TextExample], list[DataProblem]]:
    """Examples and problems of a JSON Lines text."""
    problems: list[DataProblem] = []
    examples: list[TextExample] = []
    for line, record in iter_json_records(text, path, problems):
        example, found = build_json_example(record, config, labeled, Source(path, line))
        problems.extend(found)
        if example is not None:
            examples.append(example)
    return examples, problems
