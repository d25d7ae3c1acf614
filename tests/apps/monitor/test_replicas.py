"""One monitor served by several processes on one database (here: several `Monitor` objects, each with its own
engine, as each process has): batches sent alternately raise exactly the alerts one process raises, also when a
process stops mid-stream and a new one takes over; on PostgreSQL one batch holds the monitor at a time."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from tests.apps.monitor.conftest import KeywordClassifier, burst, calm_stream
from tunelab.apps.monitor.monitor import Monitor
from tunelab.apps.monitor.store import MonitorStore


def alert_keys(alerts: Any) -> list[tuple[Any, ...]]:
    return [(a["rule"], a["kind"], a["key"], a["at"], round(a["value"], 6)) for a in alerts]


def stream_batches() -> list[Any]:
    events = calm_stream(hours=8) + burst("MSFT", 6 * 60 + 7, count=8) + burst("AAPL", 7 * 60 + 1, count=6)
    events += burst("MSFT", 7 * 60 + 40, count=8, every_min=2)  # inside the cool-down: no second MSFT alert
    ordered = sorted(events, key=lambda e: e.at)
    return [ordered[i:i + 7] for i in range(0, len(ordered), 7)]


def test_alternating_processes_raise_what_one_raises(registry: Any, config: Any) -> None:
    batches = stream_batches()
    alone = Monitor.open(config, registry, KeywordClassifier())
    expected = alert_keys(a for batch in batches for a in alone.ingest(batch).alerts)
    assert len(expected) >= 2, expected

    shared = replace(config, name="shared")
    first = Monitor.open(shared, registry, KeywordClassifier())
    second = Monitor.open(shared, registry, KeywordClassifier(), save=False)
    half = len(batches) // 2
    got = [a for i, batch in enumerate(batches[:half]) for a in (first if i % 2 else second).ingest(batch).alerts]
    # `second` stops (a replica dies); a new one starts and shares the rest with `first`
    third = Monitor.open(shared, registry, KeywordClassifier(), save=False)
    got += [a for i, batch in enumerate(batches[half:]) for a in (first if i % 2 else third).ingest(batch).alerts]
    assert alert_keys(got) == expected
    store = MonitorStore(registry.engine)
    assert len(store.list_alerts("shared", limit=1000)) == len(expected)  # each alert stored once


def test_one_batch_holds_a_monitor_at_a_time(pg_url: str) -> None:
    from tunelab.registry import Store

    stores = [Store(pg_url), Store(pg_url)]
    try:
        holder, waiter = (MonitorStore(s.engine) for s in stores)
        entered = threading.Event()
        times: dict[str, float] = {}

        def hold() -> None:
            with holder.exclusive("markets"):
                entered.set()
                time.sleep(0.4)
                times["released"] = time.monotonic()

        thread = threading.Thread(target=hold)
        thread.start()
        assert entered.wait(10)
        with waiter.exclusive("other"):  # another monitor is not held up
            assert "released" not in times
        with waiter.exclusive("markets"):
            times["entered"] = time.monotonic()
        thread.join(10)
        assert times["entered"] >= times["released"]
    finally:
        for store in stores:
            store.close()


def test_a_holder_that_dies_releases_the_monitor(pg_url: str) -> None:
    """The lock lives in the holder's database session: when its connection goes (a killed process), it goes."""
    from tunelab.registry import Store

    stores = [Store(pg_url), Store(pg_url)]
    try:
        holder, waiter = (MonitorStore(s.engine) for s in stores)
        hold = holder.exclusive("markets")
        hold.__enter__()
        stores[0].engine.dispose()  # pooled connections closed...
        with stores[1].engine.connect() as conn:  # ...the held one too, as a killed process's would be
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                                 "AND pid <> pg_backend_pid()"))
        started = time.monotonic()
        with waiter.exclusive("markets"):
            assert time.monotonic() - started < 5
        with pytest.raises(sa.exc.OperationalError):  # the dead holder cannot unlock: its connection is dropped
            hold.__exit__(None, None, None)
    finally:
        for store in stores:
            store.close()
