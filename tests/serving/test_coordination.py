"""What lets replicas on one database act as one, in one process: shared token buckets on PostgreSQL, the change
counters and their watcher, and `serve --workers` (refused on SQLite, an app factory with threads shared out)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke_cli, isolated_cli_env
from tunelab.errors import UsageError
from tunelab.registry import Store
from tunelab.serving.factory import SETTINGS_ENV, worker_threads
from tunelab.serving.ratelimit import RateLimiter
from tunelab.serving.replicas import ChangeWatcher, SharedRateLimiter, build_limiter


@pytest.fixture
def two_stores(registry: Any) -> Iterator[tuple[Any, Any]]:
    """The parametrised registry and a second Store on the same database (another process's view)."""
    other = Store(registry.url)
    try:
        yield registry, other
    finally:
        other.close()


def test_the_limiter_follows_the_dialect(registry: Any) -> None:
    limiter = build_limiter(registry, 10.0, 20)
    expected = SharedRateLimiter if registry.dialect == "postgresql" else RateLimiter
    assert type(limiter) is expected
    limiter.close()


def test_shared_buckets_hold_the_limit_across_replicas(pg_url: str) -> None:
    stores = [Store(pg_url), Store(pg_url)]
    a, b = (SharedRateLimiter(s.engine, rate_per_s=0.01, burst=5) for s in stores)
    try:
        waits = [(a if i % 2 else b).acquire("key-1") for i in range(10)]
        assert [w == 0 for w in waits] == [True] * 5 + [False] * 5  # five granted in all, not five each
        assert 90 < waits[-1] <= 100  # one token at 0.01/s: about 100 s to wait
        assert a.acquire("key-2") == 0.0  # another key has its own bucket
        time.sleep(0.01)  # at its own rate of 1000/s the bucket holds a token again after 1 ms
        assert b.acquire("key-1", rate=1000.0, burst=5) == 0.0  # a key's own rate refills at its own speed
        assert a.acquire("key-3", rate=0.0) == 0.0  # unlimited: nothing taken
        with pytest.raises(UsageError, match="exceeds the burst"):
            a.acquire("key-1", cost=6)
    finally:
        a.close()
        b.close()
        for store in stores:
            store.close()


def test_the_watcher_sees_writes_made_through_another_store(two_stores: tuple[Any, Any],
                                                           served_runs: dict[str, Path]) -> None:
    mine, theirs = two_stores
    called: list[str] = []
    watcher = ChangeWatcher(mine.engine, {topic: (lambda t=topic: called.append(t))
                                          for topic in ("keys", "routing", "monitors")})
    assert watcher.poll() == []  # the first poll only records the counters
    info, _token = theirs.create_key("replica-key", "predict")
    assert watcher.poll() == ["keys"]
    theirs.register(served_runs["intents_a"], "intents")
    theirs.register(served_runs["intents_b"], "intents", alias="production")
    assert watcher.poll() == ["routing"]
    assert watcher.poll() == []
    theirs.revoke_key(info.id)
    theirs.set_split("intents", {1: 0.5, 2: 0.5})
    assert watcher.poll() == ["keys", "routing"]
    assert called == ["keys", "routing", "keys", "routing"]


def test_forget_all_drops_cached_keys(two_stores: tuple[Any, Any]) -> None:
    from tunelab.serving.auth import Authenticator

    mine, theirs = two_stores
    info, token = theirs.create_key("cached", "predict")
    auth = Authenticator(mine, enabled=True, rate_per_s=0, burst=1, cache_s=3600)
    headers = {"authorization": f"Bearer {token}"}
    assert auth.authenticate(headers, "predict").key_id == info.id
    theirs.revoke_key(info.id)
    assert auth.authenticate(headers, "predict").key_id == info.id  # cached for an hour...
    auth.forget_all()
    with pytest.raises(Exception, match="revoked"):  # ...until the watcher says keys changed
        auth.authenticate(headers, "predict")


def test_worker_threads_share_the_cores() -> None:
    assert [worker_threads(0, n, 8) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert worker_threads(3, 4, 8) == 3  # an explicit setting wins


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    db = isolated_cli_env(tmp_path, monkeypatch)
    started: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append((a, k)))
    r = invoke_cli(["serve", "--workers", "2", "--db", db], monkeypatch, capsys)
    assert r.code == 2 and "--workers 2 needs a PostgreSQL registry" in r.err and started == []
    r = invoke_cli(["serve", "--workers", "0", "--db", db], monkeypatch, capsys)
    assert r.code == 2 and "--workers must be at least 1" in r.err and started == []


def test_serve_starts_the_factory_in_n_workers(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    isolated_cli_env(tmp_path, monkeypatch)
    started: list[Any] = []

    def run(*args: Any, **kwargs: Any) -> None:  # what each worker would read, captured while "running"
        started.append((args, kwargs, json.loads(os.environ[SETTINGS_ENV])))

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)))
    r = invoke_cli(["serve", "--workers", "4", "--db", pg_url, "--port", "8123"], monkeypatch, capsys)
    assert r.code == 0, r.err
    [(args, kwargs, settings)] = started
    assert args == ("tunelab.serving.factory:app",) and kwargs["factory"] is True and kwargs["workers"] == 4
    assert settings["threads"] == 2 and settings["port"] == 8123 and settings["db"].startswith("postgresql+psycopg")
    assert SETTINGS_ENV not in os.environ  # not left behind in this process
    assert "4 worker(s)" in r.err


def test_the_watcher_survives_an_unreadable_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.serving import replicas

    warned: list[str] = []  # the module's logger itself: other tests may have reconfigured logging
    monkeypatch.setattr(replicas.log, "warning", lambda message, *args: warned.append(message % args))
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    called: list[str] = []
    watcher = ChangeWatcher(store.engine, {"keys": lambda: called.append("keys")})
    assert watcher.poll() == []
    with store.engine.begin() as conn:  # as if the database went away
        conn.exec_driver_sql("ALTER TABLE change_counters RENAME TO gone")
    assert watcher.poll() == [] and watcher.poll() == []
    assert warned == ["cannot read the change counters (OperationalError): caches expire on their own until it can"]
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE gone RENAME TO change_counters")
    store.create_key("later", "predict")  # a change since the last good poll is seen on the next one
    assert watcher.poll() == ["keys"] and called == ["keys"]
    store.close()
