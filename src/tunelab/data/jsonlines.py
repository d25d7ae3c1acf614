"""Parse JSON Lines text into (line, object) records, collecting a problem per bad line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tunelab.errors import DataProblem


def describe_type(value: Any) -> str:
    """A user-facing name of a JSON value's type."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def parse_json_line(line: str, path: str, number: int) -> tuple[dict[str, Any] | None, DataProblem | None]:
    """One JSONL line as an object, or a problem saying why it is not one."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, DataProblem(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=number)
    if not isinstance(value, dict):
        message = f"each line must be a JSON object {{...}}, got {describe_type(value)}"
        return None, DataProblem(path, message, line=number)
    return value, None


def array_hint(text: str, path: str) -> list[DataProblem]:
    """A problem when the file is one JSON array instead of JSON Lines."""
    if text.lstrip().startswith("["):
        return [DataProblem(path, "the file looks like one JSON array; TuneLab reads JSON Lines "
                                  "(one object per line)", line=1)]
    return []


def iter_json_records(text: str, path: str, problems: list[DataProblem]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line, object) for each non-blank line; bad lines go to `problems`."""
    hint = array_hint(text, path)
    if hint:
        problems.extend(hint)
        return
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record, problem = parse_json_line(line, path, number)
        if problem is not None:
            problems.append(problem)
        elif record is not None:
            yield number, record
