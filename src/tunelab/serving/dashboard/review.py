"""The feedback review queue (low-confidence and flagged predictions), relabel input, corrections export.

All reads and writes go through the registry `Store` (the same methods as `/v1/predictions` and
`/v1/feedback`); this module only decides what the queue holds and how a typed label is read.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tunelab.data.spreadsheet import safe_row
from tunelab.registry import Store, VersionInfo
from tunelab.tasks import get_task

log = logging.getLogger("tunelab.dashboard")
# (version, its unreviewed predictions that have text) -> [(prediction id, why)] in the order to label them
Ranker = Callable[[VersionInfo, list[dict[str, Any]]], list[tuple[str, str]]]


@dataclass(frozen=True)
class QueueItem:
    prediction: dict[str, Any]
    reason: str  # "low confidence" or "flagged"
    labels: tuple[str, ...]  # the version's display labels (for the relabel control)
    task: str
    label_input: str  # the relabel control: "choice" (one of labels), "list" (several) or "spans" (entities)
    why: str = ""  # with a ranker: what a label would teach (uncertainty, cluster)


@dataclass(frozen=True)
class Export:
    filename: str
    media_type: str
    content: str
    rows: int
    skipped: int  # corrections whose text was not logged (hash-only mode)


def review_queue(store: Store, model: str | None, threshold: float, limit: int = 50,
                 rank: Ranker | None = None) -> list[QueueItem]:
    """Flagged predictions (thumb down, no corrected label yet) first, then the unreviewed ones under `threshold`:
    least confident first, or in `rank`'s order (what a label would teach most) when given."""
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
        task = get_task(version.task)
        out.append(QueueItem(prediction, reason, task.display_labels(version.labels), version.task,
                             task.spec.label_input))
    return _ranked(out, versions, rank) if rank is not None else out


def _ranked(queue: list[QueueItem], versions: dict[tuple[str, int], Any], rank: Ranker) -> list[QueueItem]:
    """The low-confidence items re-ordered by `rank`, one version at a time; flagged ones stay first, and items
    the ranker cannot order (no logged text, a task it does not take, a model that fails to load) stay after."""
    flagged = [item for item in queue if item.reason == "flagged"]
    low = [item for item in queue if item.reason != "flagged"]
    ordered: list[QueueItem] = []
    for key, version in versions.items():
        group = [item for item in low if (item.prediction["model"], item.prediction["version"]) == key
                 and item.prediction.get("text") is not None]
        if not group:
            continue
        try:
            order = rank(version, [item.prediction for item in group])
        except Exception:  # noqa: BLE001 - the queue must show even when a model cannot rank it
            log.warning("could not rank the review queue of %s@%s", *key, exc_info=True)
            continue
        by_id = {item.prediction["id"]: item for item in group}
        ordered += [replace(by_id[pid], why=why) for pid, why in order if pid in by_id]
    placed = {item.prediction["id"] for item in ordered}
    return flagged + ordered + [item for item in low if item.prediction["id"] not in placed]


def _flagged(store: Store, model: str | None, limit: int) -> list[str]:
    latest: dict[str, dict[str, Any]] = {}
    for row in store.list_feedback(model=model, limit=100_000):
        latest[row["prediction_id"]] = row  # ordered by id: the last one wins
    return [pid for pid, row in reversed(latest.items()) if row.get("thumb") == -1 and row.get("label") is None][
        :limit]


def parse_label(task: str, raw: str, text: str | None, labels: tuple[str, ...]) -> Any:
    """The corrected label as the feedback API takes it, from what the reviewer typed or chose (`labels`:
    the display labels); the task reads it (one label, labels separated by commas, `Alice=PER; Paris=LOC`)."""
    return get_task(task).parse_typed_label(raw.strip(), text, labels)


def export_corrections(store: Store, model: str) -> Export:
    """Every corrected label of `model` (the latest per prediction) as a training file TuneLab reads:
    CSV text,label for a task with one label per text; JSONL with the label list or spans otherwise."""
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
    spec = get_task(task).spec if task else None
    if spec is None or spec.single_label:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(safe_row(r) for r in records)  # texts and labels come from callers: no formulas
        return Export(f"{model}-corrections.csv", "text/csv", buffer.getvalue(), len(records), skipped)
    key = spec.jsonl_label_key
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
