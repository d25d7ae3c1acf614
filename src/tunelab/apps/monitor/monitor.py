"""One running monitor: dedupe -> classify -> keys -> rules (event time) -> one transaction -> log the alerts.

    monitor = Monitor.open(config, store)          # loads the models, warms the rules from stored items
    result = monitor.ingest(events)                 # IngestResult(accepted, duplicates, alerts)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tunelab.apps.monitor.classify import Classified, Classifier
from tunelab.apps.monitor.config import MonitorConfig
from tunelab.apps.monitor.engine import Key, Observation, RuleEngine
from tunelab.apps.monitor.events import Event, normalise_key
from tunelab.apps.monitor.policy import DEFAULT_CLOCK_SKEW_S
from tunelab.apps.monitor.store import ItemRow, MonitorStore
from tunelab.errors import DataError, DataProblem
from tunelab.inference.loader import ModelLoader
from tunelab.privacy import Redactor

log = logging.getLogger("tunelab.monitor")


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    alerts: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "alerts": list(self.alerts)}


def item_keys(event: Event, classified: Classified) -> tuple[Key, ...]:
    """What an item counts for: the whole stream, each ticker, each entity (given or found), its topic."""
    keys: list[Key] = [("all", "*")]
    keys += [("ticker", t[:128]) for t in event.tickers]
    entities = dict.fromkeys(normalise_key(e) for e in (*event.entities, *classified.entities))
    keys += [("entity", e) for e in entities if e]
    if classified.topic:
        keys.append(("topic", classified.topic))
    return tuple(dict.fromkeys(keys))


def future_events(events: Sequence[Event], max_skew_s: float | None, *, where: str = "events") -> list[DataProblem]:
    """One problem per event stamped more than `max_skew_s` ahead of the wall clock (None: no limit): such an
    event would move the rule clock, which only goes forward, past every later real event."""
    if max_skew_s is None:
        return []
    limit = datetime.now(UTC).timestamp() + max_skew_s
    return [DataProblem(f"{where}[{i}]", f"{e.at.isoformat()} is more than {max_skew_s:g} s ahead of the server "
                        "clock", column="timestamp") for i, e in enumerate(events) if e.epoch > limit]


class Monitor:
    """Thread-safe: one ingest at a time per monitor (the rules keep per-key state in memory).

    `max_clock_skew_s`: events further ahead of the wall clock are refused, and stored items or alerts beyond it
    (a database poisoned before this check) are ignored when the rules warm up; None (a replay): no limit."""

    def __init__(self, config: MonitorConfig, classifier: Classifier, store: MonitorStore,
                 *, max_clock_skew_s: float | None = DEFAULT_CLOCK_SKEW_S, redactor: Redactor | None = None) -> None:
        self.config = config
        self.classifier = classifier
        self.store = store
        self.max_clock_skew_s = max_clock_skew_s
        self.redactor = redactor  # stored item texts are redacted; tickers and entities come from the original
        self.engine = RuleEngine(config.rules, config.lookback_s)
        self._lock = threading.Lock()
        self._seen = (0, 0)  # (item id, alert id) this process's rules have seen up to
        self.warm()

    @classmethod
    def open(cls, config: MonitorConfig, registry: Any, classifier: Classifier | None = None,
             *, save: bool = True, model_roots: tuple[str, ...] | None = None,
             max_clock_skew_s: float | None = DEFAULT_CLOCK_SKEW_S,
             loader: ModelLoader | None = None, redactor: Redactor | None = None) -> Monitor:
        """Load the configured models (from run folders under `model_roots`, None: anywhere, or the registry
        `Store`) and record the config."""
        from tunelab.apps.monitor.classify import ModelClassifier

        classifier = classifier or ModelClassifier.load(config, registry, model_roots=model_roots,
                                                        loader=loader)
        store = MonitorStore(registry.engine)
        if save:
            store.save_config(config.name, config.raw)
        return cls(config, classifier, store, max_clock_skew_s=max_clock_skew_s, redactor=redactor)

    def warm(self) -> int:
        """Rebuild the rules' state from the stored items of the last lookback (after a restart): incidents that
        are still open stay open, cool-downs continue. Returns how many items were read."""
        with self.store.exclusive(self.config.name):
            return self._warm()

    def _warm(self) -> int:
        engine = RuleEngine(self.config.rules, self.config.lookback_s)
        until = None if self.max_clock_skew_s is None else \
            datetime.now(UTC) + timedelta(seconds=self.max_clock_skew_s)
        self._seen = self.store.last_ids(self.config.name)
        latest = self.store.latest_item_time(self.config.name, until=until)
        rows = [] if latest is None else self.store.items_since(
            self.config.name, latest - timedelta(seconds=self.config.lookback_s), until=until)
        first = self.store.first_item_time(self.config.name, until=until)
        # where history starts (spike baselines reach back only that far): the monitor's first item, as an engine
        # that saw every item knows it, not the oldest item of the lookback read here (a replica that re-read its
        # state mid-stream then counted fewer baseline windows than one that had not, and raised other values)
        engine.started = None if first is None else first.timestamp()
        for row in rows:
            engine.observe(_observation(row), emit=False)
        for rule, kind, key, at in self.store.last_alerts(self.config.name, until=until):
            engine.remember_alert(rule, (kind, key), at.timestamp())
        self.engine = engine
        return len(rows)

    def _catch_up(self) -> int:
        """Feed the rules what other processes stored since this one last looked (their items in the order they
        were written, their alerts' cool-downs), so this process continues exactly where they left off."""
        rows = self.store.items_after(self.config.name, self._seen[0])
        for row in rows:
            self.engine.observe(_observation(row), emit=False)
        alerts = self.store.alerts_after(self.config.name, self._seen[1])
        for _id, rule, kind, key, at in alerts:
            self.engine.remember_alert(rule, (kind, key), at.timestamp())
        self._seen = (rows[-1].id if rows else self._seen[0], alerts[-1][0] if alerts else self._seen[1])
        return len(rows)

    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """DataError (nothing stored) when an event is stamped too far ahead of the wall clock.

        Several processes may serve one monitor: each batch is processed by the process that received it, while
        it holds the monitor (`MonitorStore.exclusive`), after catching up with what the others stored."""
        future = future_events(events, self.max_clock_skew_s)
        if future:
            raise DataError(future, hint="timestamps are the events' own UTC times; check the sender's clock")
        with self._lock:
            fresh, _ = self._dedupe(events)  # known duplicates are not classified
            classified = dict(zip((e.hash for e in fresh), self.classifier.classify([e.text for e in fresh])))
            with self.store.exclusive(self.config.name):
                self._catch_up()
                fresh, duplicates = self._dedupe(events)  # again: another process may have stored some meanwhile
                rows = sorted((self._row(e, classified[e.hash]) for e in fresh), key=lambda r: r.at)  # stable
                drafts = []
                for row in rows:
                    drafts += self.engine.observe(Observation(row.at, row.negative, row.positive, row.score,
                                                              row.keys))
                try:
                    ids = self.store.write_batch(self.config.name, self.config.window_s, rows, drafts,
                                                 webhook=self.config.webhook is not None)
                    self._seen = self.store.last_ids(self.config.name)
                except Exception:
                    self._warm()  # the rules saw items that were not stored: rebuild them from the database
                    raise
        alerts = tuple({"id": i, "monitor": self.config.name, "rule": d.rule, "kind": d.kind, "key": d.key,
                        "at": _iso(d.at), "value": d.value, "details": d.details, "message": d.message}
                       for i, d in zip(ids, drafts))
        for alert in alerts:
            log.warning("ALERT [%s] #%s at %s: %s", self.config.name, alert["id"], alert["at"], alert["message"])
        return IngestResult(len(rows), duplicates, alerts)

    def _dedupe(self, events: Sequence[Event]) -> tuple[list[Event], int]:
        unique: dict[str, Event] = {}
        for event in events:
            unique.setdefault(event.hash, event)
        stored = self.store.existing_hashes(self.config.name, unique)
        fresh = [e for h, e in unique.items() if h not in stored]
        return fresh, len(events) - len(fresh)

    def _row(self, event: Event, c: Classified) -> ItemRow:
        entities = tuple(dict.fromkeys((*event.entities, *c.entities)))
        text = self.redactor.scrub(event.text) if self.redactor is not None else event.text
        return ItemRow(event.hash, event.epoch, event.source, text, c.label, c.score, c.negative, c.positive,
                       c.topic, event.tickers, entities, item_keys(event, c))


def _observation(row: Any) -> Observation:
    """A stored item as the rules see it (warm-up and catch-up: no alert is raised for it again)."""
    keys: list[Key] = [("all", "*")] + [("ticker", x) for x in row.tickers]
    keys += [("entity", x) for x in row.entities] + ([("topic", row.topic)] if row.topic else [])
    return Observation(_epoch(row.at), bool(row.negative), bool(row.positive), float(row.score), tuple(keys))


def _epoch(value: Any) -> float:
    from tunelab.apps.monitor.store import utc

    return utc(value).timestamp()


def _iso(epoch: float) -> str:
    from tunelab.apps.monitor.store import to_time

    return to_time(epoch).isoformat()
