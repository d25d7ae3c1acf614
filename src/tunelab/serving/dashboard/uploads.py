"""Uploaded training files: stored atomically in a per-upload folder, previewed with every validation problem.

Validation is the core's (`data.load.read_splits` + `check_splits`, the same checks `tunelab train` runs),
so the preview shows exactly the errors training would refuse, each next to its row.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tunelab.artifacts.files import write_bytes_atomic, write_json_atomic
from tunelab.config import DataConfig
from tunelab.data.load import check_splits, read_splits
from tunelab.data.validate import is_error, labels_of
from tunelab.errors import DataProblem, NotFoundError, UsageError
from tunelab.tasks.spec import SPECS, TASK_NAMES, TaskSpec

EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".conll", ".txt", ".iob", ".bio")
TASKS: tuple[TaskSpec, ...] = tuple(SPECS.values())  # the dashboard's task menu
PREVIEW_ROWS = 30
_UPLOAD_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class Upload:
    """One uploaded file and the column mapping chosen for it."""

    id: str
    path: Path
    original_name: str
    size: int
    task: str = "classification"
    text_column: str = "text"
    label_column: str = "label"

    def data_config(self) -> DataConfig:
        return DataConfig(train=str(self.path), task=self.task, text_column=self.text_column,
                          label_column=self.label_column)


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preview:
    """What the preview page shows: rows (the first ones and every one with a problem), all problems."""

    upload: Upload
    rows: tuple[Row, ...]
    columns: tuple[str, ...]
    examples: int
    label_counts: dict[str, int]
    file_problems: tuple[str, ...]  # problems without a line (missing column, tiny class...)
    errors: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.examples > 0


def check_upload_id(upload_id: str) -> str:
    if not _UPLOAD_ID.match(upload_id):
        raise NotFoundError(f"no upload {upload_id!r}")
    return upload_id


def save_upload(root: Path, filename: str, data: bytes, limit: int) -> Upload:
    """Write `data` into a new folder under `root` (name from a random id; only the extension is kept)."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in EXTENSIONS:
        raise UsageError(f"{filename!r}: unsupported file type", hint=f"upload one of {', '.join(EXTENSIONS)}")
    if not data:
        raise UsageError(f"{filename!r} is empty")
    if len(data) > limit:
        raise UsageError(f"{filename!r} is {len(data):,} bytes; the limit is {limit:,}",
                         hint="raise the server's max_body_bytes setting, or use `tunelab train` for big files")
    upload_id = secrets.token_hex(8)
    folder = root / upload_id
    folder.mkdir(parents=True)
    upload = Upload(upload_id, folder / f"data{suffix}", Path(filename).name[:200], len(data))
    write_bytes_atomic(upload.path, data)
    save_mapping(upload)
    return upload


def save_mapping(upload: Upload) -> None:
    write_json_atomic(upload.path.parent / "upload.json", {
        "file": upload.path.name, "original_name": upload.original_name, "size": upload.size, "task": upload.task,
        "text_column": upload.text_column, "label_column": upload.label_column, "saved_at": time.time()})


def load_upload(root: Path, upload_id: str) -> Upload:
    folder = root / check_upload_id(upload_id)
    try:
        meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise NotFoundError(f"no upload {upload_id!r}", hint="upload the file again") from None
    path = folder / Path(str(meta["file"])).name
    return Upload(upload_id, path, str(meta["original_name"]), int(meta["size"]), str(meta["task"]),
                  str(meta["text_column"]), str(meta["label_column"]))


def with_mapping(upload: Upload, task: str, text_column: str, label_column: str) -> Upload:
    if task not in TASK_NAMES:
        raise UsageError(f"unknown task {task!r}", hint=f"choose one of {', '.join(TASK_NAMES)}")
    for value, what in ((text_column, "text column"), (label_column, "label column")):
        if not value.strip() or len(value) > 200:
            raise UsageError(f"the {what} must be a column name (1-200 characters)")
    return Upload(upload.id, upload.path, upload.original_name, upload.size, task, text_column.strip(),
                  label_column.strip())


def build_preview(upload: Upload) -> Preview:
    """Read and validate the file as `tunelab train` would; rows with problems are all included."""
    config = upload.data_config()
    splits, problems = read_splits(config)
    problems += check_splits(splits, config.task)
    examples = splits["train"].examples if "train" in splits else []
    by_line: dict[int, list[str]] = defaultdict(list)
    file_problems = []
    for problem in problems:
        if not is_error(problem):
            continue
        if problem.line is not None:
            by_line[problem.line].append(_describe(problem))
        else:
            file_problems.append(_describe(problem))
    lines = _read_lines(upload.path)
    if lines and not lines[-1]:
        lines.pop()  # the file's final newline does not start a row
    shown = sorted(set(range(1, min(len(lines), PREVIEW_ROWS) + 1)) | set(by_line))
    rows = tuple(Row(n, lines[n - 1] if n <= len(lines) else "", tuple(by_line.get(n, ()))) for n in shown)
    counts: dict[str, int] = defaultdict(int)
    for example in examples:
        for label in labels_of(example):
            counts[label] += 1
    errors = sum(len(v) for v in by_line.values()) + len(file_problems)
    warnings = tuple(str(p) for p in problems if not is_error(p))
    return Preview(upload, rows, _columns(lines, upload.path), len(examples), dict(sorted(counts.items())),
                   tuple(file_problems), errors, warnings)


def replace_line(upload: Upload, line: int, text: str | None) -> None:
    """Replace physical line `line` of the file with `text` (None: delete it); atomically."""
    if "\n" in (text or "") or "\r" in (text or ""):
        raise UsageError("a corrected row must be one line")
    raw = upload.path.read_bytes().decode("utf-8", errors="replace")
    lines = raw.split("\n")
    if not 1 <= line <= len(lines):
        raise UsageError(f"line {line} is not in the file (it has {len(lines)} lines)")
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    write_bytes_atomic(upload.path, "\n".join(lines).encode("utf-8"))


def _describe(problem: DataProblem) -> str:
    return f"{problem.column}: {problem.message}" if problem.column else problem.message


def _read_lines(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    return [line.rstrip("\r") for line in text.split("\n")]


def _columns(lines: list[str], path: Path) -> tuple[str, ...]:
    """Column names for the mapping form: a CSV/TSV header, or the keys of the first JSON record."""
    first = next((line for line in lines if line.strip()), "")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        import csv

        row = next(csv.reader([first], delimiter="\t" if suffix == ".tsv" else ","), [])
        return tuple(c.strip() for c in row if c.strip())
    if suffix in (".jsonl", ".json"):
        try:
            record = json.loads(first)
        except ValueError:
            return ()
        return tuple(str(k) for k in record) if isinstance(record, dict) else ()
    return ()
