"""Each drift check of a model version, appended to `drift_history.jsonl` in its run folder (the dashboard's chart)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tunelab.loop.drift import DriftReport

HISTORY = "drift_history.jsonl"


@dataclass(frozen=True)
class DriftPoint:
    at: str  # ISO time, UTC
    verdict: str
    window: int
    p_values: dict[str, float | None]  # per check
    drifted: tuple[str, ...]
    alpha: float
    feedback_accuracy: float | None = None  # accuracy of the feedback on this version so far, when any was judged


def append_history(run_dir: Path, report: DriftReport, at: datetime | None = None) -> None:
    """One JSON line per check (an append: a crash loses at most this line; unreadable lines are skipped)."""
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    line = {"at": stamp, "verdict": report.verdict, "window": report.window,
            "p_values": {c.name: c.p_value for c in report.checks}, "drifted": [c.name for c in report.drifted],
            "alpha": report.checks[0].alpha if report.checks else None,
            "feedback_accuracy": report.feedback_accuracy}
    with open(Path(run_dir) / HISTORY, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def read_history(run_dir: Path, limit: int = 200) -> list[DriftPoint]:
    """The newest `limit` checks, oldest first."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    points = []
    for raw in path.read_text(encoding="utf-8").splitlines()[-limit:]:
        try:
            item = json.loads(raw)
            accuracy = item.get("feedback_accuracy")
            points.append(DriftPoint(str(item["at"]), str(item["verdict"]), int(item["window"]),
                                     {str(k): None if v is None else float(v) for k, v in item["p_values"].items()},
                                     tuple(item["drifted"]), float(item["alpha"] or 0.01),
                                     None if accuracy is None else float(accuracy)))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return points
