"""Replicas on one PostgreSQL behave as one service: two real servers on loopback ports, one of them started with
`tunelab serve --workers 2` (three processes in all), the tiny intents run registered as versions 1 and 2.

The rate limit holds across them; a key revoked through one is refused by the other within a second; a promotion
through one is served by the other; events for one monitor sent alternately to both raise exactly the alerts one
process raises on the same stream, also when one of them is killed mid-stream (the last test: it kills B).
Caches are set to a minute, so only the change counters can explain what the other replica sees so quickly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import tunelab
from tests.conftest import INTENTS, fresh_pg_database, write_csv

START_TIMEOUT_S = 90.0
SEEN_WITHIN_S = 1.5  # the watcher polls every 0.5 s; the rest is slack for a busy test machine


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@dataclass
class Cluster:
    a: Server  # `serve --workers 2`
    b: Server  # one process
    keys: dict[str, tuple[str, str]]  # name -> (key id, token)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name][1]}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(db: str, home: Path, workers: int) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNELAB_")}
    env.update(PYTHONPATH=str(Path(tunelab.__file__).parents[1]), OMP_NUM_THREADS="1", TUNELAB_HOME=str(home),
               TUNELAB_THREADS="1", TUNELAB_PRECISION="fp32", TUNELAB_MAX_WAIT_MS="1", TUNELAB_RATE_PER_S="0",
               TUNELAB_KEY_CACHE_S="60", TUNELAB_REGISTRY_CACHE_S="60")
    log = home / f"server-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tunelab", "serve", "--db", db, "--port", str(port),
                                    "--workers", str(workers), "--log-level", "warning"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(f"http://127.0.0.1:{port}", process, log)


def wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited ({server.process.returncode}):\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(server.url + "/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not start within {START_TIMEOUT_S} s:\n{server.log.read_text()[-3000:]}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


def worker_pids(pid: int) -> list[int]:
    """The uvicorn worker processes started by `pid` (multiprocessing's spawned children)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def intents_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A finished run; what it learned does not matter here (two epochs)."""
    root = tmp_path_factory.mktemp("replicas-run")
    data = write_csv(root / "intents.csv", [{"text": t, "label": label} for label, texts in INTENTS.items()
                                            for t in texts])
    tunelab.train(data=str(data), dev=str(data), test=str(data), task="classification", output=str(root / "run"),
                  model=str(tiny_model), epochs=2, batch_size=6, lr=3e-3, warmup_ratio=0.0, patience=0,
                  precision="fp32", show_progress=False, seed=1)
    return root / "run"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, intents_run: Path) -> Iterator[Cluster]:
    from tunelab.registry import Store

    home = tmp_path_factory.mktemp("replicas-home")
    with fresh_pg_database() as db:
        store = Store(db)
        try:
            store.register(intents_run, "intents", alias="production")
            store.register(intents_run, "intents")  # version 2: the same weights, told apart by the number
            keys = {}
            for name, scopes, rate, burst in (("admin", "admin", None, None), ("limited", "predict", 0.01, 6),
                                              ("doomed", "predict", None, None), ("reader", "predict", None, None)):
                info, token = store.create_key(name, scopes, rate_per_s=rate, burst=burst)
                keys[name] = (info.id, token)
        finally:
            store.close()
        servers: list[Server] = []
        try:
            servers += [start_server(db, home, workers=2), start_server(db, home, workers=1)]
            deadline = time.monotonic() + START_TIMEOUT_S
            for server in servers:
                wait_ready(server, deadline)
            yield Cluster(servers[0], servers[1], keys)
        finally:
            for server in servers:
                stop(server)


def test_serve_workers_starts_that_many_processes(cluster: Cluster) -> None:
    assert len(worker_pids(cluster.a.process.pid)) == 2
    assert worker_pids(cluster.b.process.pid) == []  # one worker: uvicorn serves in the process itself


def test_the_rate_limit_holds_across_replicas(cluster: Cluster) -> None:
    """A key allowed a burst of 6 (refilling at 0.01/s) gets 6 answers in all: each replica alone would give 6."""
    codes = [httpx.get(server.url + "/v1/models", headers=cluster.auth("limited"), timeout=10).status_code
             for server in [cluster.a, cluster.b] * 6]
    assert sorted(codes) == [200] * 6 + [429] * 6, codes


def test_a_key_revoked_through_one_is_refused_by_the_other(cluster: Cluster) -> None:
    reader = httpx.get(cluster.b.url + "/v1/models", headers=cluster.auth("doomed"), timeout=10)
    assert reader.status_code == 200  # B has the key cached now, for a minute
    key_id = cluster.keys["doomed"][0]
    revoked = httpx.delete(f"{cluster.a.url}/v1/keys/{key_id}", headers=cluster.auth("admin"), timeout=10)
    assert revoked.status_code == 200, revoked.text
    elapsed = wait_for(lambda: httpx.get(cluster.b.url + "/v1/models", headers=cluster.auth("doomed"),
                                         timeout=10).status_code == 401)
    print(f"revocation seen by the other replica after {elapsed:.3f} s")
    assert elapsed < SEEN_WITHIN_S


def test_a_promotion_through_one_is_served_by_the_other(cluster: Cluster) -> None:
    def served_version() -> int:
        answer = httpx.post(cluster.b.url + "/v1/models/intents/predict", json={"inputs": ["refund please"]},
                            headers=cluster.auth("reader"), timeout=30)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["version"])

    assert served_version() == 1
    promoted = httpx.put(cluster.a.url + "/v1/models/intents/aliases/production", json={"version": 2},
                         headers=cluster.auth("admin"), timeout=10)
    assert promoted.status_code == 200, promoted.text
    elapsed = wait_for(lambda: served_version() == 2)
    print(f"promotion served by the other replica after {elapsed:.3f} s")
    assert elapsed < SEEN_WITHIN_S


def wait_for(condition: Any, limit_s: float = 10.0) -> float:
    """Seconds until `condition()` held (checked every 50 ms); fails after `limit_s`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit_s:
            pytest.fail(f"not seen within {limit_s} s")
        time.sleep(0.05)
    return time.monotonic() - started


T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# volume rules raise the same alerts whatever the tiny model predicts; the negative-share rule follows its labels
RULES = [
    {"name": "busy", "type": "threshold", "scope": "ticker", "metric": "volume", "above": 5, "window": "1h",
     "cooldown": "2h"},
    {"name": "surge", "type": "spike", "scope": "ticker", "metric": "volume", "z": 3, "baseline_windows": 3,
     "min_baseline_windows": 2, "min_volume": 3, "window": "1h", "cooldown": "3h"},
    {"name": "gloom", "type": "threshold", "scope": "ticker", "metric": "negative_share", "above": 0.6,
     "min_volume": 4, "window": "1h", "cooldown": "3h"},
]


def news_stream() -> list[dict[str, Any]]:
    """Nine hours of items on two tickers, one every 20 minutes, with bursts of ten in half an hour: TSLA at 3 h
    (alerts), again at 4 h (within the cool-downs: none), AAPL at 6 h, TSLA at 7 h (cool-down over: alerts)."""
    stamps = [(("TSLA", "AAPL")[i % 2], 20.0 * i) for i in range(27)]
    for ticker, start in (("TSLA", 180), ("TSLA", 245), ("AAPL", 360), ("TSLA", 420)):
        stamps += [(ticker, start + 3.0 * j) for j in range(10)]
    texts = [t for examples in INTENTS.values() for t in examples]
    events = [{"text": f"${ticker} {texts[i % len(texts)]} item {i}", "source": "wire",
               "timestamp": (T0 + timedelta(minutes=minute)).isoformat()} for i, (ticker, minute) in enumerate(stamps)]
    return sorted(events, key=lambda e: e["timestamp"])


def test_a_monitor_on_both_raises_what_one_raises_even_when_one_dies(cluster: Cluster) -> None:
    config = {"sentiment": {"model": "intents@1", "negative_labels": ["password"], "positive_labels": ["shipping"]},
              "window": "1h", "rules": RULES}
    for name in ("alone", "shared"):
        answer = httpx.put(f"{cluster.a.url}/v1/monitors/{name}", json={"config": {**config, "name": name}},
                           headers=cluster.auth("admin"), timeout=60)
        assert answer.status_code == 200, answer.text
    events = news_stream()
    batches = [events[i:i + 6] for i in range(0, len(events), 6)]

    def send(server: Server, name: str, batch: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        answer = httpx.post(f"{server.url}/v1/monitors/{name}/events", json={"events": batch},
                            headers=cluster.auth("admin"), timeout=60)
        assert answer.status_code == 200, answer.text
        return [(a["rule"], a["kind"], a["key"], a["at"], round(a["value"], 6)) for a in answer.json()["alerts"]]

    expected = [alert for batch in batches for alert in send(cluster.b, "alone", batch)]
    assert {(rule, key) for rule, _kind, key, _at, _value in expected} >= {("busy", "TSLA"), ("busy", "AAPL"),
                                                                            ("surge", "TSLA")}, expected
    assert sum(1 for alert in expected if alert[:3] == ("busy", "ticker", "TSLA")) == 2, expected

    half = len(batches) // 2
    got = [alert for i, batch in enumerate(batches[:half])
           for alert in send(cluster.a if i % 2 else cluster.b, "shared", batch)]
    cluster.b.kill()  # kill -9 mid-stream: A carries on alone from what B stored
    got += [alert for batch in batches[half:] for alert in send(cluster.a, "shared", batch)]
    assert got == expected
    stored = httpx.get(f"{cluster.a.url}/v1/monitors/shared/alerts", params={"limit": 1000},
                       headers=cluster.auth("admin"), timeout=10).json()["alerts"]
    assert len(stored) == len(expected)  # each alert stored once
