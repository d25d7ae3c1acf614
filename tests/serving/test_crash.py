"""Durability under `kill -9`: every write the server acknowledged is in the registry after a crash.

A real `tunelab serve` process (SQLite file or PostgreSQL) takes predictions, then a burst of feedback writes
from several threads; part way through the burst it is killed with SIGKILL. Restarted on the same database,
it must show every prediction and every feedback item whose POST had been answered, with its content.
Everything listens on 127.0.0.1 only; every wait has a timeout; the server processes are killed in all cases.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import tunelab

READY_TIMEOUT_S = 90.0
REQUEST_TIMEOUT_S = 10.0
WRITERS = 8
BURST_S = 5.0  # the longest a writer keeps writing (the kill comes well before)
KILL_AFTER_S = 1.0  # of burst
MAX_WRITES_PER_WRITER = 2000
MIN_ACKNOWLEDGED = 20
LABELS = ["refund", "shipping", "password"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(home: Path) -> dict[str, str]:
    """The test's environment without any TUNELAB_* setting that could point the server elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNELAB_")}
    env["TUNELAB_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(tunelab.__file__).parents[1]),
                                                      env.get("PYTHONPATH")]))
    return env


@dataclass
class Server:
    """One `tunelab serve` process on 127.0.0.1."""

    db: str
    home: Path
    port: int = 0
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, tag: str) -> None:
        self.port = _free_port()
        self.log_path = self.home / f"server-{tag}.log"
        self._log = open(self.log_path, "wb")  # closed in stop()
        command = [sys.executable, "-m", "tunelab", "serve", "--db", self.db, "--host", "127.0.0.1",
                   "--port", str(self.port), "--log-level", "warning", "--rate-per-s", "0", "--precision", "fp32"]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=_env(self.home), cwd=self.home)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode} before it was ready:\n{self.log()}")
            try:
                r = httpx.get(f"{self.url}/v1/ready", timeout=2.0, trust_env=False)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        pytest.fail(f"the server was not ready within {timeout:.0f} s ({last}):\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL, the way a crash or the OOM killer ends it: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        try:
            self.kill()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]


@dataclass
class Acknowledged:
    """Feedback the server answered 201 to: its id -> what was sent."""

    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # answers other than 201 before the kill (should be none)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(params=["sqlite", "postgresql"])
def crash_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The registry database: a SQLite file, or a fresh PostgreSQL database (skipped when none is reachable)."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'r.db'}"


@pytest.fixture
def servers(crash_db: str) -> Iterator[list[Server]]:
    """Every server a test starts, killed at the end whatever happens (before its database is dropped)."""
    started: list[Server] = []
    yield started
    errors = []
    for server in reversed(started):
        try:
            server.stop()
        except Exception as exc:  # noqa: BLE001 - stop the others too, then report
            errors.append(exc)
    if errors:
        raise errors[0]


def _prepare(db: str, run: Path) -> str:
    """Register the run as intents@production and make an admin key, before any server runs; returns the key."""
    from tunelab.registry import Store

    store = Store(db)
    try:
        store.register(run, "intents", alias="production")
        return store.create_key("crash-admin", "admin")[1]
    finally:
        store.close()


def _writer(base: str, headers: dict[str, str], prediction_ids: list[str], number: int, stop: threading.Event,
            acked: Acknowledged) -> None:
    rng = random.Random(number)
    deadline = time.monotonic() + BURST_S
    with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
        for n in range(MAX_WRITES_PER_WRITER):
            if stop.is_set() or time.monotonic() > deadline:
                return
            sent = {"prediction_id": rng.choice(prediction_ids), "label": rng.choice(LABELS),
                    "comment": f"writer {number} write {n}"}
            try:
                r = client.post("/v1/feedback", json=sent)
            except httpx.HTTPError:
                return  # the server is gone: this write was never acknowledged
            if r.status_code == 201:
                body = r.json()
                with acked.lock:
                    acked.items[int(body["id"])] = sent
            elif not stop.is_set():
                with acked.lock:
                    acked.refused.append(f"{r.status_code} {r.text[:200]}")


def test_acknowledged_writes_survive_kill_9(crash_db: str, tmp_path: Path, served_runs: dict[str, Path],
                                            servers: list[Server]) -> None:
    db = crash_db
    token = _prepare(db, served_runs["intents_a"])
    headers = {"Authorization": f"Bearer {token}"}

    first = Server(db, tmp_path)
    servers.append(first)
    first.start("first")
    first.wait_ready()

    # ~20 predictions, in a few requests: their ids are what the feedback refers to
    prediction_ids = []
    with httpx.Client(base_url=first.url, headers=headers, timeout=REQUEST_TIMEOUT_S * 3, trust_env=False) as client:
        for i in range(4):
            r = client.post("/v1/models/intents/predict",
                            json={"inputs": [f"where is my parcel number {i}-{j}" for j in range(5)]})
            assert r.status_code == 200, r.text
            prediction_ids += [p["id"] for p in r.json()["predictions"]]
    assert len(set(prediction_ids)) == 20

    # the burst, killed part way through
    stop = threading.Event()
    acked = Acknowledged()
    writers = [threading.Thread(target=_writer, args=(first.url, headers, prediction_ids, n, stop, acked),
                                daemon=True) for n in range(WRITERS)]
    for thread in writers:
        thread.start()
    time.sleep(KILL_AFTER_S)
    first.kill()
    stop.set()
    for thread in writers:
        thread.join(timeout=REQUEST_TIMEOUT_S + 5)
    assert not any(thread.is_alive() for thread in writers), "a writer did not stop after the kill"
    assert first.process is not None and first.process.returncode == -signal.SIGKILL
    assert not acked.refused, f"writes refused before the kill: {acked.refused[:5]}"
    assert len(acked.items) > MIN_ACKNOWLEDGED, (
        f"only {len(acked.items)} writes were acknowledged before the kill; the test proves little\n{first.log()}")

    # restart on the same database: every acknowledged write is there, with what was sent
    second = Server(db, tmp_path)
    servers.append(second)
    second.start("second")
    second.wait_ready()
    with httpx.Client(base_url=second.url, headers=headers, timeout=REQUEST_TIMEOUT_S * 3,
                      trust_env=False) as client:
        r = client.get("/v1/feedback", params={"limit": 100_000})
        assert r.status_code == 200, r.text
        stored = {int(row["id"]): row for row in r.json()["feedback"]}
        missing = sorted(set(acked.items) - set(stored))
        assert not missing, f"{len(missing)} of {len(acked.items)} acknowledged feedback items lost: {missing[:10]}"
        for feedback_id, sent in acked.items.items():
            row = stored[feedback_id]
            got = {"prediction_id": row["prediction_id"], "label": row["label"], "comment": row["comment"]}
            assert got == sent, f"feedback {feedback_id} changed across the crash: {got} != {sent}"
            assert row["model"] == "intents" and row["version"] == 1
        # and every prediction that was answered is in the log
        for prediction_id in prediction_ids:
            r = client.get(f"/v1/predictions/{prediction_id}")
            assert r.status_code == 200, f"prediction {prediction_id} lost: {r.text}"
        # the restarted server takes writes again
        r = client.post("/v1/feedback", json={"prediction_id": prediction_ids[0], "thumb": 1})
        assert r.status_code == 201, r.text
