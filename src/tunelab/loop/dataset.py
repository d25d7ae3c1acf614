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
from tunelab.errors import UsageError
from tunelab.registry import Store
from tunelab.tasks import Task
from tunelab.types import TextExample

TRAIN_FILE = "train.jsonl"
PROVENANCE_FILE = "provenance.jsonl"


@dataclass(frozen=True)
class Correction:
    """The newest corrected label given for one text."""

    text: str
    labels: tuple[str, ...]
    feedback_id: int
    prediction_id: str
    version: int


@dataclass(frozen=True)
class Row:
    """One training row and where it came from: an original file row, or a feedback id (`replaced`: the
    original label the correction overrode, with its file row)."""

    text: str
    labels: tuple[str, ...]
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


def read_texts(path: str | Path, data: DataConfig) -> list[TextExample]:
    """A labelled text file read with the champion's columns (format from its extension)."""
    examples = read_examples(path, replace(data, format=None))
    return [e for e in examples if isinstance(e, TextExample)]


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
        names = tuple(sorted(task.feedback_label_names(row["label"])))
        found = Correction(text, names, int(row["id"]), pid, int(row["version"]))
        if text not in by_text or by_text[text].feedback_id < found.feedback_id:
            by_text[text] = found
    return sorted(by_text.values(), key=lambda c: c.feedback_id), skipped


def merge(original: Sequence[TextExample], corrections: Sequence[Correction], golden: set[str],
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
        where = f"{example.source.path}:{example.source.line}" if example.source else None
        fix = fixes.get(example.text)
        if fix is None:
            rows.append(Row(example.text, tuple(example.labels), "original", source=where))
            continue
        replaced += 1
        if fix.text not in used:  # a text repeated in the file becomes one corrected row
            rows.append(Row(fix.text, fix.labels, "correction", feedback_id=fix.feedback_id,
                            prediction_id=fix.prediction_id, replaced=f"{'|'.join(example.labels)}@{where}"))
            used.add(fix.text)
    golden_corrections = sum(c.text in golden for c in corrections)
    for fix in corrections:
        if fix.text not in used and fix.text not in golden:
            rows.append(Row(fix.text, fix.labels, "correction", feedback_id=fix.feedback_id,
                            prediction_id=fix.prediction_id))
            used.add(fix.text)
    counts = MergeCounts(len(original), len(corrections), len(used), replaced, golden_originals, golden_corrections,
                         hash_only_skipped, max((c.feedback_id for c in corrections), default=0))
    return MergedData(tuple(rows), counts)


def save_merged(merged: MergedData, folder: Path, single_label: bool, data: DataConfig) -> Path:
    """Write the training file (JSONL under the champion's text and label keys) and its provenance (one line per
    training row, same order)."""
    if not merged.rows:
        raise UsageError("the merged training set is empty (every row is in the golden set?)")
    folder.mkdir(parents=True, exist_ok=True)
    train = folder / TRAIN_FILE
    with open(train, "w", encoding="utf-8") as handle:
        for row in merged.rows:
            label: Any = row.labels[0] if single_label else list(row.labels)
            record = {data.text_column: row.text, data.label_column: label}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(folder / PROVENANCE_FILE, "w", encoding="utf-8") as handle:
        for number, row in enumerate(merged.rows, start=1):
            handle.write(json.dumps({"row": number, **asdict(row)}, ensure_ascii=False) + "\n")
    write_json_atomic(folder / "merge.json", asdict(merged.counts))
    return train
