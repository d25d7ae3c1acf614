"""The challenger's training set: the base training file plus corrected labels, with the provenance of every row.

Rules: a correction wins over the original label of the same text (and the newest correction over older ones);
a text in the golden set is never trained on, whether it comes from the file or from a correction (counted).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tunelab.artifacts.files import write_json_atomic
from tunelab.config import DataConfig
from tunelab.data.load import read_examples
from tunelab.data.tags import spans_from_tags
from tunelab.errors import UsageError
from tunelab.registry import Store
from tunelab.tasks import Task
from tunelab.tasks.spec import TaskSpec
from tunelab.types import Example, TextExample

TRAIN_FILE = "train.jsonl"
PROVENANCE_FILE = "provenance.jsonl"


Answer = tuple[Any, ...]  # label names, or (start, end, type) entities: what a text's label says, sorted


@dataclass(frozen=True)
class Labelled:
    """A text with its answer, read from a file row (`source`: "path:line")."""

    text: str
    answer: Answer
    source: str | None = None


@dataclass(frozen=True)
class Correction:
    """The newest corrected label given for one text."""

    text: str
    answer: Answer
    feedback_id: int
    prediction_id: str
    version: int


@dataclass(frozen=True)
class Row:
    """One training row and where it came from: an original file row, or a feedback id (`replaced`: the
    original label the correction overrode, with its file row)."""

    text: str
    answer: Answer
    origin: str  # "original" or "correction"
    source: str | None = None  # "path:line" of an original row
    feedback_id: int | None = None
    prediction_id: str | None = None
    replaced: str | None = None  # "label@path:line" of the original row a correction replaced


@dataclass(frozen=True)
class MergeCounts:
    original_rows: int
    corrections: int  # distinct texts with a corrected label (newest per text)
    corrections_used: int
    replaced_originals: int
    golden_excluded_originals: int
    golden_excluded_corrections: int
    hash_only_skipped: int  # corrections whose text was not logged
    last_feedback_id: int


@dataclass(frozen=True)
class MergedData:
    rows: tuple[Row, ...]
    counts: MergeCounts


def answer_of(example: Example) -> Answer:
    """A read example's answer: its labels, or its entities as character spans of its text."""
    if isinstance(example, TextExample):
        return tuple(sorted(example.labels))
    return tuple(sorted((example.offsets[first][0], example.offsets[end - 1][1], kind)
                        for kind, first, end in spans_from_tags(example.tags)))


def read_labelled(path: str | Path, data: DataConfig) -> list[Labelled]:
    """A labelled file read with the champion's columns and task (format from its extension)."""
    out = []
    for e in read_examples(path, replace(data, format=None)):
        out.append(Labelled(e.text, answer_of(e), f"{e.source.path}:{e.source.line}" if e.source else None))
    return out


def correction_answer(task: Task, label: Any) -> Answer:
    """A feedback label as an answer: entities for a per-token task, label names otherwise."""
    if task.spec.per_token:
        return tuple(sorted(task.read_feedback(label)))
    return tuple(sorted(task.feedback_label_names(label)))


def load_corrections(store: Store, model: str, task: Task, since_version: int) -> tuple[list[Correction], int]:
    """The newest corrected label per text (feedback with a label on versions >= `since_version`); also how many
    were skipped because their prediction's text was not logged (hash-only mode)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in store.list_feedback(model=model, limit=100_000):
        if row.get("label") is not None and int(row["version"]) >= since_version:
            latest[row["prediction_id"]] = row  # oldest first: the newest per prediction wins
    by_text: dict[str, Correction] = {}
    skipped = 0
    for pid, row in latest.items():
        text = store.get_prediction(pid).get("text")
        if text is None:
            skipped += 1
            continue
        found = Correction(text, correction_answer(task, row["label"]), int(row["id"]), pid, int(row["version"]))
        if text not in by_text or by_text[text].feedback_id < found.feedback_id:
            by_text[text] = found
    return sorted(by_text.values(), key=lambda c: c.feedback_id), skipped


def merge(original: Sequence[Labelled], corrections: Sequence[Correction], golden: set[str],
          hash_only_skipped: int = 0) -> MergedData:
    """Original rows in file order (a corrected text takes its correction's label), then corrections of new texts;
    golden texts are left out of both."""
    fixes = {c.text: c for c in corrections}
    rows: list[Row] = []
    used: set[str] = set()
    replaced = golden_originals = 0
    for example in original:
        if example.text in golden:
            golden_originals += 1
            continue
        fix = fixes.get(example.text)
        if fix is None:
            rows.append(Row(example.text, example.answer, "original", source=example.source))
            continue
        replaced += 1
        if fix.text not in used:  # a text repeated in the file becomes one corrected row
            rows.append(Row(fix.text, fix.answer, "correction", feedback_id=fix.feedback_id,
                            prediction_id=fix.prediction_id, replaced=f"{_show(example.answer)}@{example.source}"))
            used.add(fix.text)
    golden_corrections = sum(c.text in golden for c in corrections)
    for fix in corrections:
        if fix.text not in used and fix.text not in golden:
            rows.append(Row(fix.text, fix.answer, "correction", feedback_id=fix.feedback_id,
                            prediction_id=fix.prediction_id))
            used.add(fix.text)
    counts = MergeCounts(len(original), len(corrections), len(used), replaced, golden_originals, golden_corrections,
                         hash_only_skipped, max((c.feedback_id for c in corrections), default=0))
    return MergedData(tuple(rows), counts)


def _show(answer: Answer) -> str:
    return "|".join(a if isinstance(a, str) else f"{a[2]}[{a[0]}:{a[1]}]" for a in answer)


def file_label(answer: Answer, spec: TaskSpec) -> Any:
    """An answer as a training file's label: one name, a list of names, or a list of {start, end, label} spans."""
    if spec.per_token:
        return [{"start": start, "end": end, "label": kind} for start, end, kind in answer]
    return answer[0] if spec.single_label else list(answer)


def save_merged(merged: MergedData, folder: Path, spec: TaskSpec, data: DataConfig) -> Path:
    """Write the training file (JSONL under the champion's text and label keys) and its provenance (one line per
    training row, same order)."""
    if not merged.rows:
        raise UsageError("the merged training set is empty (every row is in the golden set?)")
    folder.mkdir(parents=True, exist_ok=True)
    train = folder / TRAIN_FILE
    with open(train, "w", encoding="utf-8") as handle:
        for row in merged.rows:
            record = {data.text_column: row.text, data.label_column: file_label(row.answer, spec)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(folder / PROVENANCE_FILE, "w", encoding="utf-8") as handle:
        for number, row in enumerate(merged.rows, start=1):
            handle.write(json.dumps({"row": number, **asdict(row)}, ensure_ascii=False) + "\n")
    write_json_atomic(folder / "merge.json", asdict(merged.counts))
    return train
