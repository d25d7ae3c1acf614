"""Pick a file's format (from --format, its name or its contents) and read it with the matching reader."""

from __future__ import annotations

import re
from pathlib import Path

from tunelab.config import DataConfig
from tunelab.data.conll import read_conll, read_ner_jsonl
from tunelab.data.encoding import read_text
from tunelab.data.tables import read_delimited, read_jsonl
from tunelab.errors import DataProblem
from tunelab.tasks.spec import get_spec, readers_of
from tunelab.types import Example, Source, TextExample

FORMATS = ("csv", "tsv", "jsonl", "conll", "lines")
EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".conll": "conll", ".conllx": "conll", ".iob": "conll", ".bio": "conll", ".iob2": "conll", ".bioes": "conll",
}
ALIASES = {"json": "jsonl", "ndjson": "jsonl", "tab": "tsv", "iob": "conll", "bio": "conll", "conll2003": "conll",
           "txt": "lines", "text": "lines"}
TAG_LIKE = re.compile(r"^(O|[BIES]-\S+)$")


def looks_like_conll(text: str) -> bool:
    """True when the first lines are -DOCSTART- or word ... TAG columns."""
    lines = [line.split() for line in text.split("\n")[:50] if line.strip()]
    if not lines:
        return False
    if lines[0][0] == "-DOCSTART-":
        return True
    return all(len(cols) >= 2 and TAG_LIKE.match(cols[-1]) for cols in lines[:20])


def guess_format(path: Path, text: str, task: str, labeled: bool) -> str | None:
    """The format named by the extension; CoNLL for .txt and extension-less files like eng.train.

    A .txt file that is not CoNLL is read as one text per line when no labels are wanted."""
    suffix = path.suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    if looks_like_conll(text) or (suffix == ".txt" and "conll" in get_spec(task).formats and labeled):
        return "conll"
    if suffix == ".txt" and not labeled:
        return "lines"
    return None


def unknown_format_problem(path: Path, labeled: bool) -> DataProblem:
    """Why the format could not be guessed, and the option that settles it."""
    choices = ", ".join(f for f in FORMATS if not labeled or f != "lines")
    if path.suffix.lower() == ".txt":
        message = ("a labelled .txt file is read as CoNLL (word ... TAG per line) and this one does not look "
                   f"like it; save labelled texts as CSV, TSV or JSONL, or pass --format ({choices})")
    else:
        message = f"cannot tell the format of {path.name!r} from its name or contents; pass --format ({choices})"
    return DataProblem(str(path), message)


def resolve_format(path: Path, text: str, config: DataConfig, labeled: bool) -> tuple[str | None, DataProblem | None]:
    """The format to read `path` with, or a problem when it is unknown."""
    requested = config.format
    if requested:
        name = ALIASES.get(requested.lower(), requested.lower())
        if name in FORMATS:
            return name, None
        return None, DataProblem(str(path), f"unknown format {requested!r}; use one of {', '.join(FORMATS)}")
    name = guess_format(path, text, config.task, labeled)
    if name is None:
        return None, unknown_format_problem(path, labeled)
    return name, None


def task_mismatch(path: Path, format_name: str, task: str, labeled: bool) -> DataProblem | None:
    """A problem when the format cannot hold data for the task."""
    if format_name == "lines" and labeled:
        return DataProblem(str(path), "the lines format holds texts only; labelled data must be CSV, TSV, JSONL "
                                      "or CoNLL")
    if not labeled:
        return None
    spec = get_spec(task)
    if format_name in spec.formats:
        return None
    readers = readers_of(format_name)
    if format_name == "conll" and readers:
        return DataProblem(str(path), f"a CoNLL file holds word tags, but the task is {task}; "
                                      f"pass --task {' or '.join(readers)}")
    return DataProblem(str(path), f"{spec.formats_note}, not {format_name}")


def read_lines(text: str, path: str) -> tuple[list[TextExample], list[DataProblem]]:
    """One unlabelled example per non-blank line (prediction input from a .txt file)."""
    examples = [TextExample(line.strip(), (), Source(path, number))
                for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    return examples, []


def read_with(format_name: str, text: str, path: str, config: DataConfig,
              labeled: bool) -> tuple[list[Example], list[DataProblem]]:
    """Dispatch to the reader for a format and task."""
    if format_name == "lines":
        return read_lines(text, path)  # type: ignore[return-value]
    if format_name == "conll":
        return read_conll(text, path, config.tag_scheme, labeled)  # type: ignore[return-value]
    if format_name == "jsonl" and get_spec(config.task).per_token:
        return read_ner_jsonl(text, path, config.text_column, config.label_column, labeled)  # type: ignore[return-value]
    if format_name == "jsonl":
        return read_jsonl(text, path, config, labeled)  # type: ignore[return-value]
    delimiter = "\t" if format_name == "tsv" else ","
    return read_delimited(text, path, config, labeled, delimiter)  # type: ignore[return-value]


def read_file(path: Path, config: DataConfig, labeled: bool = True) -> tuple[list[Example], list[DataProblem]]:
    """All examples of one file and every problem found in it (never raises for bad data)."""
    text, problems = read_text(path)
    if text is None:
        return [], problems
    format_name, problem = resolve_format(path, text, config, labeled)
    if problem is None and format_name is not None:
        problem = task_mismatch(path, format_name, config.task, labeled)
    if problem is not None:
        return [], problems + [problem]
    examples, found = read_with(str(format_name), text, str(path), config, labeled)
    return examples, problems + found

