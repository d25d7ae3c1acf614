"""The server's retraining scheduler: each policy's `tunelab loop run --if-due` in a child process when its trigger
says so, one replica at a time per model.

Every `tick` re-reads the policy files (edits apply without a restart), asks `due_now` (a few registry queries, no
training) and, for a due model, runs the loop in a child process: training never shares the serving process's
cores, memory or interpreter lock, and a crash in it cannot take the server down. The model's lock is held while
the child runs (on PostgreSQL an advisory lock, so replicas skip what another is running); the child records its
decision in the registry, which makes the model not due for the replicas that look next. The registry URL goes
to the child in its environment (TUNELAB_DB), never on its command line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tunelab.errors import TunelabError
from tunelab.fields import read_yaml_mapping
from tunelab.loop.policy import load_policy
from tunelab.loop.run import due_now
from tunelab.registry import Store
from tunelab.registry.locks import try_hold

log = logging.getLogger("tunelab.loop.scheduler")

LOCK_NAMESPACE = 7_347_003  # advisory locks of the loop scheduler: (this, crc32 of the model name)
OUTPUT_TAIL = 2000  # characters of a failed child's output kept in the log


@dataclass(frozen=True)
class Tick:
    """What one tick did for one model (or for a policy file it could not read)."""

    model: str
    status: str  # "ran", "failed", "not due", "busy" (another replica holds it) or "error" (policy or registry)
    detail: str
    seconds: float = 0.0


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    output: str


Runner = Callable[[list[str], dict[str, str], float], ChildResult]


def run_child(command: list[str], env: dict[str, str], timeout_s: float) -> ChildResult:
    """Run the loop's child process to the end (or `timeout_s`) and keep its output."""
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        return ChildResult(-1, f"timed out after {timeout_s:.0f} s\n{exc.stderr or ''}")
    return ChildResult(done.returncode, (done.stdout or "") + (done.stderr or ""))


class LoopScheduler:
    """Runs every due policy of `policy_files` against `store` (see the module docstring)."""

    def __init__(self, store: Store, policy_files: Sequence[str | Path], *, db_url: str,
                 timeout_s: float = 6 * 3600.0, runner: Runner = run_child) -> None:
        self.store = store
        self.policy_files = [Path(p) for p in policy_files]
        self.db_url = db_url
        self.timeout_s = timeout_s
        self.runner = runner

    def tick(self) -> list[Tick]:
        ticks: list[Tick] = []
        for path in self.policy_files:
            try:
                models = policy_models(path)
            except TunelabError as exc:
                ticks.append(Tick(str(path), "error", str(exc)))
                continue
            ticks.extend(self._one(path, model) for model in models)
        for t in ticks:
            if t.status in ("ran", "failed", "error"):
                (log.info if t.status == "ran" else log.warning)("loop %s: %s (%s)", t.model, t.status, t.detail)
        return ticks

    def _one(self, path: Path, model: str | None) -> Tick:
        try:
            policy = load_policy(path, model)
        except TunelabError as exc:
            return Tick(model or str(path), "error", str(exc))
        with try_hold(self.store.engine, LOCK_NAMESPACE, policy.model) as owned:
            if not owned:
                return Tick(policy.model, "busy", "another process is running its loop")
            try:
                due = due_now(self.store, policy)
            except TunelabError as exc:
                return Tick(policy.model, "error", str(exc))
            if not due.due:
                return Tick(policy.model, "not due", due.why)
            return self._run(path, policy.model, due.why)

    def _run(self, path: Path, model: str, why: str) -> Tick:
        command = [sys.executable, "-m", "tunelab", "loop", "run", model, "--policy", str(path), "--if-due",
                   "--quiet"]
        started = time.monotonic()
        result = self.runner(command, {**os.environ, "TUNELAB_DB": self.db_url}, self.timeout_s)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            return Tick(model, "failed", f"due ({why}); exit {result.returncode}: "
                                         f"{result.output[-OUTPUT_TAIL:].strip()}", seconds)
        last = result.output.strip().splitlines()[-1:] or [""]
        return Tick(model, "ran", f"due ({why}); {last[0]}", seconds)


def policy_models(path: str | Path) -> list[str | None]:
    """The models a policy file holds: [None] for a one-model file, else the names under `models:`."""
    raw = read_yaml_mapping(path)
    models = raw.get("models") if isinstance(raw, dict) else None
    return [str(name) for name in models] if isinstance(models, dict) else [None]
