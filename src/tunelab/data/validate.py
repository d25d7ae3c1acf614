"""Checks across splits: unseen labels, tiny classes, empty files, duplicate and shared texts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tunelab.errors import DataProblem
from tunelab.tasks.spec import get_spec
from tunelab.types import Example, TokenExample

MIN_CLASS_SIZE = 2


def labels_of(example: Example) -> tuple[str, ...]:
    """Class labels of a text example, or the entity types of a token example."""
    if isinstance(example, TokenExample):
        return tuple(dict.fromkeys(t[2:] for t in example.tags if t != "O"))
    return example.labels


def line_of(example: Example) -> int | None:
    """The example's source line, when known."""
    return example.source.line if example.source else None


def first_lines(examples: Sequence[Example]) -> tuple[Counter[str], dict[str, int | None]]:
    """How many examples carry each label, and the line of the first one."""
    counts: Counter[str] = Counter()
    first: dict[str, int | None] = {}
    for example in examples:
        for label in labels_of(example):
            counts[label] += 1
            first.setdefault(label, line_of(example))
    return counts, first


def describe_unseen(label: str, count: int, name: str, ner: bool) -> str:
    """'label 'x' appears 2 times in dev' or 'entity type 'X' appears in 2 sentences of dev'."""
    plural = "s" if count != 1 else ""
    if ner:
        return f"entity type {label!r} appears in {count} sentence{plural} of {name}"
    return f"label {label!r} appears {count} time{plural} in {name}"


def check_unseen_labels(train: Sequence[Example], other: Sequence[Example], name: str,
                        path: str) -> list[DataProblem]:
    """An error per label of a dev/test file that never occurs in train."""
    known = set(first_lines(train)[0])
    counts, first = first_lines(other)
    ner = bool(other) and isinstance(other[0], TokenExample)
    return [DataProblem(path, f"{describe_unseen(label, counts[label], name, ner)} (first at line {first[label]}) "
                              "but never in train", line=first[label])
            for label in counts if label not in known]


def check_class_sizes(train: Sequence[Example], path: str, task: str) -> list[DataProblem]:
    """An error per training class with fewer than 2 examples (tasks whose examples carry classes)."""
    if not get_spec(task).stratify:
        return []
    counts, first = first_lines(train)
    return [DataProblem(path, f"class {label!r} has only {count} training example; each class needs at least "
                              f"{MIN_CLASS_SIZE} (add examples or remove the class)", line=first[label])
            for label, count in counts.items() if count < MIN_CLASS_SIZE]


def check_not_empty(examples: Sequence[Example], path: str, problems: Sequence[DataProblem]) -> list[DataProblem]:
    """An error for a file that was read without problems but holds no examples."""
    if examples or any(p.path == path and p.severity == "error" for p in problems):
        return []
    return [DataProblem(path, "the file holds no examples")]


def duplicate_warning(name: str, examples: Sequence[Example]) -> str | None:
    """'train: 12 duplicate texts (first at line 40)' when texts repeat within a split."""
    seen: set[str] = set()
    repeats, first_line = 0, None
    for example in examples:
        if example.text in seen:
            repeats += 1
            first_line = first_line if first_line is not None else line_of(example)
        seen.add(example.text)
    if not repeats:
        return None
    where = f" (first at line {first_line})" if first_line is not None else ""
    return f"{name}: {repeats} duplicate text{'s' if repeats != 1 else ''}{where}"


def overlap_warning(train: Sequence[Example], other: Sequence[Example], name: str) -> str | None:
    """'5 texts appear in both train and test' when a dev/test text is also a training text."""
    shared = {e.text for e in train} & {e.text for e in other}
    if not shared:
        return None
    count = len(shared)
    return f"{count} text{'s' if count != 1 else ''} appear{'s' if count == 1 else ''} in both train and {name}"


def cross_split_warnings(splits: dict[str, Sequence[Example]]) -> list[str]:
    """Duplicate-text warnings per split and train/dev/test overlap warnings."""
    warnings = [w for name, examples in splits.items() if (w := duplicate_warning(name, examples))]
    train = splits.get("train", [])
    for name, examples in splits.items():
        if name != "train" and (w := overlap_warning(train, examples, name)):
            warnings.append(w)
    return warnings


def is_error(problem: DataProblem) -> bool:
    """True for error-severity problems."""
    return problem.severity == "error"

