"""The feedback review queue (low-confidence and flagged predictions), relabel input, corrections export.

All reads and writes go through the registry `Store` (the same methods as `/v1/predictions` and
`/v1/feedback`); this module only decides what the queue holds and how a typed label is read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from tunelab.data.spreadsheet import safe_row
from tunelab.errors import UsageError
from tunelab.registry import Store


@dataclass(frozen=True)
class QueueItem:
    prediction: dict[str, Any]
    reason: str  # "low confidence" or "flagged"
    labels: tuple[str, ...]  # the version's label set (for the relabel control)
    task: str


@dataclass(frozen=True)
class Export:
    filename: str
    media_type: str
    content: str
    rows: int
    skipped: int  # corrections whose text was not logged (hash-only mode)


def review_queue(store: Store, model: str | None, threshold: float, limit: int = 50) -> list[QueueItem]:
    """Flagged predictions (thumb down, no corrected label yet) first, then the least confident unreviewed."""
    flagged_ids = _flagged(store, model, limit)
    items = [("flagged", store.get_prediction(pid)) for pid in flagged_ids]
    low = store.list_predictions(model=model, max_score=threshold, without_feedback=True, limit=limit)
    items += [("low confidence", p) for p in sorted(low, key=lambda p: p.get("score") or 0.0)]
    versions: dict[tuple[str, int], Any] = {}
    out = []
    for reason, prediction in items[:limit]:
        key = (prediction["model"], prediction["version"])
        if key not in versions:
            versions[key] = store.get_version(*key)
        version = versions[key]
        labels = entity_types(version.labels) if version.task == "ner" else version.labels
        out.append(QueueItem(prediction, reason, labels, version.task))
    return out


def entity_types(labels: tuple[str, ...]) -> tuple[str, ...]:
    """NER entity types from IOB2 tags (`B-PER`, `I-PER` -> `PER`); other label sets as they are."""
    if not any(label[:2] in ("B-", "I-") for label in labels):
        return labels
    return tuple(dict.fromkeys(label[2:] for label in labels if label[:2] in ("B-", "I-")))


def _flagged(store: Store, model: str | None, limit: int) -> list[str]:
    latest: dict[str, dict[str, Any]] = {}
    for row in store.list_feedback(model=model, limit=100_000):
        latest[row["prediction_id"]] = row  # ordered by id: the last one wins
    return [pid for pid, row in reversed(latest.items()) if row.get("thumb") == -1 and row.get("label") is None][
        :limit]


def parse_label(task: str, raw: str, text: str | None, labels: tuple[str, ...]) -> Any:
    """The corrected label as the feedback API takes it, from what the reviewer typed or chose.

    classification: one label; multilabel: labels separated by commas; ner: `Alice=PER; Paris=LOC`
    (each entity's words as they appear in the text, in order)."""
    raw = raw.strip()
    if task == "ner":
        return _parse_spans(raw, text, labels)
    if task == "multilabel":
        chosen = [x.strip() for x in raw.split(",") if x.strip()]
        unknown = [x for x in chosen if x not in labels]
        if unknown:
            raise UsageError(f"unknown labels {unknown}", hint=f"the model knows: {', '.join(labels)}")
        return chosen
    if raw not in labels:
        raise UsageError(f"unknown label {raw!r}", hint=f"the model knows: {', '.join(labels)}")
    return raw


def _parse_spans(raw: str, text: str | None, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    if text is None:
        raise UsageError("this prediction's text was not logged (hash-only mode); it cannot be relabelled here")
    spans, cursor = [], 0
    for item in [x.strip() for x in raw.split(";") if x.strip()]:
        words, sep, label = item.rpartition("=")
        words, label = words.strip(), label.strip()
        if not sep or not words or not label:
            raise UsageError(f"cannot read {item!r}", hint="write entities as `Alice=PER; Paris=LOC`")
        if labels and label not in labels:
            raise UsageError(f"unknown entity type {label!r}", hint=f"the model knows: {', '.join(labels)}")
        start = text.find(words, cursor)
        if start < 0:
            raise UsageError(f"{words!r} does not appear in the text (after the previous entity)")
        spans.append({"start": start, "end": start + len(words), "label": label})
        cursor = start + len(words)
    return spans


def export_corrections(store: Store, model: str) -> Export:
    """Every corrected label of `model` (the latest per prediction) as a training file TuneLab reads:
    CSV text,label for classification; JSONL for multi-label (label list) and NER (spans)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in store.list_feedback(model=model, limit=100_000):
        if row.get("label") is not None:
            latest[row["prediction_id"]] = row
    records, skipped, task = [], 0, ""
    for pid, row in latest.items():
        prediction = store.get_prediction(pid)
        task = task or store.get_version(model, row["version"]).task
        if prediction.get("text") is None:
            skipped += 1
            continue
        records.append((prediction["text"], row["label"]))
    if task in ("", "classification"):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(safe_row(r) for r in records)  # texts and labels come from callers: no formulas
        return Export(f"{model}-corrections.csv", "text/csv", buffer.getvalue(), len(records), skipped)
    key = "spans" if task == "ner" else "label"
    lines = [json.dumps({"text": text, key: label}, ensure_ascii=False) for text, label in records]
    content = "\n".join(lines) + ("\n" if lines else "")
    return Export(f"{model}-corrections.jsonl", "application/x-ndjson", content, len(records), skipped)


def highlight(text: str, spans: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """The text cut into (piece, entity label or None) for NER highlighting; overlapping spans are skipped."""
    pieces: list[tuple[str, str | None]] = []
    cursor = 0
    for span in sorted(spans, key=lambda s: (int(s["start"]), int(s["end"]))):
        start, end = int(span["start"]), int(span["end"])
        if start < cursor or end > len(text) or start >= end:
            continue
        if start > cursor:
            pieces.append((text[cursor:start], None))
        pieces.append((text[start:end], str(span["label"])))
        cursor = end
    if cursor < len(text):
        pieces.append((text[cursor:], None))
    return pieces
