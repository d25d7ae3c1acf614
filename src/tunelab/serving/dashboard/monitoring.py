"""What the monitor pages show: chart series from the stored windowed aggregates, and an alert's evidence items.

Reads only, through the monitor's `MonitorStore` (the same methods as `/v1/monitors/.../aggregates` and
`.../alerts`), plus one read of the stored items inside an alert's window (alerts do not link their items).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from tunelab.apps.monitor import tables as t
from tunelab.apps.monitor.events import normalise_key
from tunelab.apps.monitor.store import MonitorStore, to_time, utc

MAX_SERIES = 12  # charts on one page: the keys with the most items
MAX_POINTS = 500  # windows per chart (the newest)
MAX_ROWS = 10_000  # aggregate rows read for one page
ITEMS_SHOWN = 50


@dataclass(frozen=True)
class Series:
    """One (kind, key) over consecutive windows, oldest first (the same windows for every series of a page)."""

    kind: str
    key: str
    window_s: int
    starts: list[str]  # window starts, ISO 8601 UTC
    volume: list[int]
    negative_share: list[float | None]  # None for an empty window (a gap in the line)

    @property
    def total(self) -> int:
        return sum(self.volume)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "window_s": self.window_s, "starts": self.starts,
                "volume": self.volume, "negative_share": self.negative_share}


def build_series(store: MonitorStore, monitor: str, window_s: float, kind: str | None = None,
                 key: str | None = None) -> list[Series]:
    """The busiest `MAX_SERIES` keys (of `kind`, or `key` alone) at the monitor's current window size."""
    rows = [r for r in store.list_aggregates(monitor, kind=kind or None, key=key or None, limit=MAX_ROWS)
            if r["window_s"] == int(window_s)]
    grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["kind"], row["key"]), {})[row["window_start"]] = row
    stamps = sorted({datetime.fromisoformat(r["window_start"]).timestamp() for r in rows})
    span = (max(stamps[0], stamps[-1] - (MAX_POINTS - 1) * window_s), stamps[-1]) if stamps else (0.0, -1.0)
    series = [_fill(kind_, key_, int(window_s), windows, span) for (kind_, key_), windows in grouped.items()]
    series.sort(key=lambda s: (s.kind != "all", -s.total, s.kind, s.key))
    return series[:MAX_SERIES]


def _fill(kind: str, key: str, window_s: int, windows: dict[str, dict[str, Any]],
          span: tuple[float, float]) -> Series:
    """Every window of `span` (first and last window start, shared by all charts), empty ones as zeros."""
    starts: list[str] = []
    volume: list[int] = []
    share: list[float | None] = []
    at = span[0]
    while at <= span[1]:
        iso = to_time(at).isoformat()
        row = windows.get(iso)
        starts.append(iso)
        volume.append(int(row["volume"]) if row else 0)
        share.append(float(row["negative_share"]) if row and row["volume"] else None)
        at += window_s
    return Series(kind, key, window_s, starts, volume, share)


def alert_items(store: MonitorStore, alert: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored items of the alert's key in its window (window_start, at], newest first (at most 50)."""
    c = t.monitor_items.c
    start, end = utc(datetime.fromisoformat(alert["window_start"])), utc(datetime.fromisoformat(alert["at"]))
    query = (sa.select(c.at, c.source, c.text, c.label, c.score, c.negative, c.topic, c.tickers, c.entities)
             .where(c.monitor == alert["monitor"], c.at > start, c.at <= end).order_by(c.at.desc(), c.id.desc())
             .limit(MAX_ROWS))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    kind, key = alert["kind"], alert["key"]
    matched = [r for r in rows if _counts_for(r, kind, key)]
    return [{**r._asdict(), "at": utc(r.at).isoformat()} for r in matched[:ITEMS_SHOWN]]


def _counts_for(row: Any, kind: str, key: str) -> bool:
    """Whether a stored item counts for (kind, key), as `apps.monitor.monitor.item_keys` assigned it."""
    if kind == "all":
        return True
    if kind == "ticker":
        return key in (row.tickers or [])
    if kind == "entity":
        return key in {normalise_key(e) for e in row.entities or []}
    return kind == "topic" and row.topic == key


def webhook_host(config: dict[str, Any]) -> str | None:
    """Only the webhook's host (its path and query often hold a token)."""
    hook = config.get("webhook")
    if not isinstance(hook, dict) or not hook.get("url"):
        return None
    return urlsplit(str(hook["url"])).hostname or "(unreadable url)"
