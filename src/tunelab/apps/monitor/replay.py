"""Backtest: replay a JSONL history through a monitor's rules on a scratch database and report the alerts."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tunelab.apps.monitor.classify import Classifier, ModelClassifier
from tunelab.apps.monitor.config import MonitorConfig
from tunelab.apps.monitor.events import Event, chunked
from tunelab.apps.monitor.monitor import Monitor
from tunelab.apps.monitor.store import MonitorStore
from tunelab.errors import UsageError


@dataclass(frozen=True)
class ReplayReport:
    events: int
    accepted: int
    duplicates: int
    first_at: str | None
    last_at: str | None
    alerts: tuple[dict[str, Any], ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "accepted": self.accepted, "duplicates": self.duplicates,
                "first_at": self.first_at, "last_at": self.last_at, "alerts": list(self.alerts),
                "seconds": round(self.seconds, 3)}


def run_replay(events: Sequence[Event], config: MonitorConfig, *, speed: float = 0.0, registry: Any = None,
               classifier: Classifier | None = None, batch_size: int = 64,
               progress: Callable[[int, int], None] | None = None) -> ReplayReport:
    """Feed `events` in timestamp order through the rules. `speed`: 0 as fast as possible, N = N times real time
    (paced on the events' own timestamps). Nothing is delivered; the registry's monitor data is not touched."""
    from tunelab.registry import Store

    if speed < 0:
        raise UsageError("--speed must be 0 (as fast as possible) or a positive factor")
    ordered = sorted(events, key=lambda e: e.at)
    started = time.perf_counter()
    accepted = duplicates = done = 0
    alerts: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tunelab-replay-") as scratch:
        store = Store(f"sqlite:///{Path(scratch) / 'replay.db'}")
        try:
            # models may come from `registry`; the replay's items, aggregates and alerts stay in the scratch store
            classifier = classifier or ModelClassifier.load(config, registry or store)
            # history is in the past; a future-stamped line only affects this scratch replay
            monitor = Monitor(replace(config, webhook=None), classifier, MonitorStore(store.engine),
                              max_clock_skew_s=None)
            for batch in chunked(ordered, batch_size):
                _pace(ordered[0].epoch, batch[0].epoch, started, speed)
                result = monitor.ingest(batch)
                accepted, duplicates = accepted + result.accepted, duplicates + result.duplicates
                alerts += [{k: v for k, v in a.items() if k != "id"} for a in result.alerts]
                done += len(batch)
                if progress is not None:
                    progress(done, len(ordered))
        finally:
            store.close()
    return ReplayReport(len(ordered), accepted, duplicates, ordered[0].at.isoformat() if ordered else None,
                        ordered[-1].at.isoformat() if ordered else None, tuple(alerts),
                        time.perf_counter() - started)


def _pace(first: float, at: float, started: float, speed: float) -> None:
    if speed <= 0:
        return
    wait = (at - first) / speed - (time.perf_counter() - started)
    if wait > 0:
        time.sleep(wait)
