"""The audit log (append-only, in SQLite and PostgreSQL) and the right to erasure (`tunelab data forget`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tunelab
from tunelab.apps.assistant import tables as assistant
from tunelab.errors import UsageError
from tunelab.privacy.erasure import forget
from tunelab.registry import PredictionRecord, Store
from tunelab.registry.audit import audit_log, entries


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'r.db'}"
    s = Store(url)
    yield s
    s.close()


def test_admin_actions_are_recorded(store: Store, served_runs: dict[str, Path]) -> None:
    info, _ = store.create_key("ops", "admin", actor="root-key")
    store.register(served_runs["intents_a"], "intents", alias="production", actor="root-key")
    store.register(served_runs["intents_b"], "intents")
    store.set_split("intents", {1: 0.5, 2: 0.5}, actor="ops")
    store.revoke_key(info.id)
    log = entries(store.engine)
    assert [e.action for e in log] == ["key.revoke", "split.set", "model.register", "alias.set", "model.register",
                                       "key.create"]
    assert log[-1].actor == "root-key" and log[-1].target == info.id and log[-1].details["name"] == "ops"
    assert log[0].actor == "cli" and log[3].target == "intents@production" and log[3].details["version"] == 1
    assert [e.action for e in entries(store.engine, action="model.register")] == ["model.register"] * 2


def test_the_database_refuses_to_change_the_log(store: Store) -> None:
    store.create_key("ops", "admin")
    for statement in (audit_log.update().values(actor="someone else"), audit_log.delete()):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(statement)
    assert len(entries(store.engine)) == 1


def log(store: Store, caller: str, n: int) -> list[str]:
    ids = [f"{caller}-{i}" for i in range(n)]
    store.log_predictions([PredictionRecord(i, "m", 1, {"label": "x", "score": 1.0}, 1.0, f"text of {i}",
                                            caller=caller) for i in ids])
    return ids


def test_forget_a_caller_or_a_conversation(store: Store) -> None:
    alice, bob = log(store, "alice", 3), log(store, "bob", 2)
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO feedback (prediction_id, model, version, comment, created_at) "
                             "VALUES (:p, 'm', 1, 'my number is 555', :at)"), {"p": alice[0], "at": datetime.now(UTC)})
        for pid, conversation in ((alice[1], "c-alice"), (bob[0], "c-bob")):
            conn.execute(assistant.assistant_turns.insert().values(
                id=pid, assistant="a", version=1, conversation_id=conversation, question="q", route="handoff",
                label="x", answer=None, confidence=0.1, created_at=datetime.now(UTC)))
            conn.execute(assistant.handoffs.insert().values(
                assistant="a", version=1, turn_id=pid, conversation_id=conversation, question="q", suggestions=[],
                status="open", created_at=datetime.now(UTC)))
    report = forget(store.engine, caller="alice", actor="dpo")
    assert report.deleted == {"feedback": 1, "handoffs": 1, "assistant_turns": 1, "predictions": 3}
    with store.engine.connect() as conn:
        left = {r[0] for r in conn.execute(sa.text("SELECT id FROM predictions"))}
    assert left == set(bob)
    entry = entries(store.engine)[0]
    assert entry.action == "data.forget" and entry.actor == "dpo" and "alice" not in json.dumps(entry.__dict__)
    by_conversation = forget(store.engine, conversation="c-bob")
    assert by_conversation.deleted["predictions"] == 1 and by_conversation.deleted["handoffs"] == 1
    assert forget(store.engine, caller="nobody").total == 0
    with pytest.raises(UsageError, match="exactly one"):
        forget(store.engine, caller="a", conversation="b")
    with pytest.raises(UsageError, match="exactly one"):
        forget(store.engine)


def test_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = Store(url)
    log(store, "carol", 2)
    env = {**os.environ, "PYTHONPATH": str(Path(tunelab.__file__).parents[1]), "TUNELAB_DB": url}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tunelab", "data", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    done = cli("forget", "--caller", "carol")
    assert done.returncode == 0 and "2 predictions" in done.stdout and "carol" not in done.stdout
    assert cli("forget").returncode == 2
    listed = json.loads(cli("audit", "--json").stdout)
    assert listed[0]["action"] == "data.forget" and listed[0]["details"]["deleted"]["predictions"] == 2
