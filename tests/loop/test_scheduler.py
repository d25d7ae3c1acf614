"""The retraining scheduler: due policies run in a child process (the registry URL in its environment only), one
holder per model, a drift alert as a trigger, and nothing a bad policy file can do stops the other models."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_csv
from tests.loop.conftest import TRAIN, correct, rows
from tunelab.apps.monitor.engine import AlertDraft
from tunelab.apps.monitor.store import MonitorStore
from tunelab.errors import ConfigError
from tunelab.loop.policy import load_policy
from tunelab.loop.records import list_decisions
from tunelab.loop.run import due_now
from tunelab.loop.scheduler import LOCK_NAMESPACE, ChildResult, LoopScheduler
from tunelab.registry import Store
from tunelab.registry.locks import try_hold


def policy_file(path: Path, golden: Path, trigger: str, model: str = "intents") -> Path:
    dev = write_csv(path.parent / "dev.csv", rows(TRAIN))
    path.write_text(f"model: {model}\ngolden: {golden}\nruns_dir: {path.parent / 'runs'}\nsource: {{dev: {dev}}}\n"
                    f"trigger: {trigger}\npromotion: {{min_golden_size: 18, max_class_drop: 10}}\n", encoding="utf-8")
    return path


class Recorder:
    """A runner that records what it was asked to run and answers as told."""

    def __init__(self, returncode: int = 0, output: str = "intents: PROMOTED") -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.result = ChildResult(returncode, output)

    def __call__(self, command: list[str], env: dict[str, str], timeout_s: float) -> ChildResult:
        self.calls.append((command, env))
        return self.result


def drift_alert(store: Store, key: str) -> None:
    at = time.time()
    MonitorStore(store.engine).write_batch("drift", 3600.0, [], [AlertDraft("drift", "model", key, at, at, 2.0, {},
                                                                            "input drift")], webhook=False)


def test_a_due_model_runs_in_a_child_with_the_registry_url_only_in_its_environment(
        store: Store, good_run: Path, golden_csv: Path, tmp_path: Path) -> None:
    store.register(good_run, "intents", alias="production")
    path = policy_file(tmp_path / "loop.yaml", golden_csv, "{every_corrections: 2}")
    runner = Recorder()
    url = "postgresql+psycopg://loop:s3cret@db.internal/tunelab"
    scheduler = LoopScheduler(store, [path], db_url=url, runner=runner)
    correct(store, "intents", 1, "my parcel now", "shipping")
    (tick,) = scheduler.tick()
    assert (tick.model, tick.status) == ("intents", "not due") and "1 new correction(s) of 2" in tick.detail
    assert runner.calls == []
    correct(store, "intents", 1, "refund money", "refund")
    (tick,) = scheduler.tick()
    assert tick.status == "ran" and "2 new correction(s) >= 2" in tick.detail
    (command, env), = runner.calls
    assert command[:2] == [sys.executable, "-m"] and command[2:7] == ["tunelab", "loop", "run", "intents", "--policy"]
    assert "--if-due" in command and env["TUNELAB_DB"] == url
    assert not any("s3cret" in part for part in command)


def test_a_failed_child_and_a_bad_policy_file_are_reported_and_the_other_models_still_run(
        store: Store, good_run: Path, golden_csv: Path, tmp_path: Path) -> None:
    store.register(good_run, "intents", alias="production")
    correct(store, "intents", 1, "refund money", "refund")
    good = policy_file(tmp_path / "loop.yaml", golden_csv, "{every_corrections: 1}")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: intents\ngolden: g.csv\ntrigger: {every_corrections: 0}\n", encoding="utf-8")
    (tmp_path / "other").mkdir()
    missing = policy_file(tmp_path / "other" / "loop.yaml", golden_csv, "{every_corrections: 1}", model="nobody")
    runner = Recorder(returncode=2, output="error: the base training file is not there")
    ticks = LoopScheduler(store, [broken, missing, good], db_url="sqlite://", runner=runner).tick()
    assert [(t.model, t.status) for t in ticks] == [(str(broken), "error"), ("nobody", "error"), ("intents", "failed")]
    assert "trigger.every_corrections" in ticks[0].detail and "nobody" in ticks[1].detail
    assert "exit 2" in ticks[2].detail and "base training file" in ticks[2].detail


def test_a_model_held_by_another_process_is_skipped(store: Store, good_run: Path, golden_csv: Path,
                                                    tmp_path: Path) -> None:
    store.register(good_run, "intents", alias="production")
    correct(store, "intents", 1, "refund money", "refund")
    runner = Recorder()
    scheduler = LoopScheduler(store, [policy_file(tmp_path / "loop.yaml", golden_csv, "{every_corrections: 1}")],
                              db_url="sqlite://", runner=runner)
    with try_hold(store.engine, LOCK_NAMESPACE, "intents") as held:
        assert held
        (tick,) = scheduler.tick()
    assert tick.status == "busy" and runner.calls == []
    assert scheduler.tick()[0].status == "ran"


def test_a_drift_alert_on_the_champion_makes_it_due(store: Store, good_run: Path, golden_csv: Path,
                                                     tmp_path: Path) -> None:
    store.register(good_run, "intents", alias="production")
    policy = load_policy(policy_file(tmp_path / "loop.yaml", golden_csv, "{on_drift: true}"))
    assert not due_now(store, policy).due
    drift_alert(store, "intents@7")  # another version's alert is not this champion's
    assert not due_now(store, policy).due
    drift_alert(store, "intents@1")
    due = due_now(store, policy)
    assert due.due and "drift alert" in due.why and "intents@1" in due.why
    off = load_policy(policy_file(tmp_path / "off.yaml", golden_csv, "{every_corrections: 50}"))
    assert not due_now(store, off).due


def test_the_scheduler_really_retrains_in_a_child_process(good_run: Path, golden_csv: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The child is a real `tunelab loop run`: it trains the challenger and records the decision in the registry
    whose URL it was given; the next tick finds nothing due."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    store = Store(url)
    try:
        store.register(good_run, "intents", alias="production")
        for text in ("refund money today", "my parcel delivery", "login password now"):
            correct(store, "intents", 1, text, {"r": "refund", "m": "shipping", "l": "password"}[text[0]])
        scheduler = LoopScheduler(store, [policy_file(tmp_path / "loop.yaml", golden_csv, "{every_corrections: 3}")],
                                  db_url=url, timeout_s=600)
        (tick,) = scheduler.tick()
        assert tick.status == "ran", tick.detail
        (decision,) = list_decisions(store)
        assert decision.model == "intents" and decision.decision in ("promoted", "refused")
        assert scheduler.tick()[0].status == "not due"
    finally:
        store.close()


def test_postgresql_replicas_hold_a_model_one_at_a_time(pg_url: str) -> None:
    first, second = Store(pg_url), Store(pg_url)
    try:
        with try_hold(first.engine, LOCK_NAMESPACE, "intents") as a:
            with try_hold(second.engine, LOCK_NAMESPACE, "intents") as b, \
                    try_hold(second.engine, LOCK_NAMESPACE, "other") as c:
                assert a and not b and c
        with try_hold(second.engine, LOCK_NAMESPACE, "intents") as again:
            assert again  # released when the first holder left
    finally:
        first.close()
        second.close()


def test_settings_refuse_a_missing_policy_file(tmp_path: Path) -> None:
    from tunelab.serving.settings import load_settings

    with pytest.raises(ConfigError, match="loop_policies"):
        load_settings(None, env={}, loop_policies=(str(tmp_path / "nope.yaml"),)).check()
