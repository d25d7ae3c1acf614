"""The one Alembic history builds exactly the tables of `tunelab.migrations.tables` (registry and applications),
and a database at any earlier head, including the retired empty revision 0004, upgrades to it with its rows."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tunelab.apps.assistant import tables as assistant_tables
from tunelab.migrations.tables import TABLE_MODULES, metadata
from tunelab.registry import Store
from tunelab.registry import schema as t
from tunelab.registry.db import MIGRATIONS, create_engine, current_revision, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh, empty database: a SQLite file, then PostgreSQL (skipped when unreachable)."""
    return f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


def schema_diff(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def alembic_to(engine: Any, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrations_match_schema(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        migrate(engine)
        assert schema_diff(engine) == [], "the tables and the migrations differ"
        assert current_revision(engine) == head() == "0012"
    finally:
        engine.dispose()


def test_the_table_list_alone_gathers_every_table() -> None:
    """Importing `tunelab.migrations.tables` by itself (no other module imported first) declares every table the
    migrations make, each in a module of `TABLE_MODULES`."""
    code = ("import json; from tunelab.migrations.tables import TABLE_MODULES, metadata; "
            "print(json.dumps({'tables': sorted(metadata.tables), 'modules': [m.__name__ for m in TABLE_MODULES]}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert out["modules"] == ["tunelab.registry.schema", "tunelab.apps.assistant.tables", "tunelab.apps.monitor.tables",
                              "tunelab.apps.recommender.tables", "tunelab.registry.coordination",
                              "tunelab.loop.tables", "tunelab.registry.audit", "tunelab.privacy.policies"]
    assert {"models", "predictions", "feedback", "assistants", "assistant_turns", "handoffs", "monitors",
            "monitor_items", "monitor_alerts", "recommenders", "recommender_events",
            "recommender_items", "change_counters", "rate_buckets", "privacy_policies"} <= set(out["tables"])
    declared = {name for module in TABLE_MODULES for name, value in vars(module).items()
                if isinstance(value, sa.Table)}
    assert set(out["tables"]) == declared == set(metadata.tables)
    assert {"assistants", "handoffs"}.isdisjoint(vars(t))  # the registry no longer declares the apps' tables


def seed_old_database(engine: Any) -> None:
    """Rows written by the old code: a model's prediction, an assistant answer logged in `predictions` under
    the turn's id, and feedback on each."""
    stamp = datetime.now(UTC)
    common = {"version": 1, "text": "hi", "text_hash": "0" * 64, "latency_ms": 1.0, "created_at": stamp}
    old_columns = [sa.column(c.name, c.type) for c in t.predictions.c if c.name != "kind"]
    with engine.begin() as conn:
        conn.execute(sa.insert(sa.table("predictions", *old_columns)), [
            {"id": "p-model", "model": "intents", "output": {"label": "refund", "score": 0.8}, "score": 0.8,
             **common},
            {"id": "p-answer", "model": "support", "output": {"label": "hello", "score": 0.9, "route": "faq"},
             "score": 0.9, **common}])
        conn.execute(assistant_tables.assistant_turns.insert().values(
            id="p-answer", assistant="support", version=1, conversation_id="c", question="hi", route="faq",
            label="hello", answer="Hi.", confidence=0.9, created_at=stamp))
        conn.execute(t.feedback.insert(), [
            {"prediction_id": "p-model", "model": "intents", "version": 1, "thumb": 1, "correct": True,
             "created_at": stamp},
            {"prediction_id": "p-answer", "model": "support", "version": 1, "thumb": -1, "correct": False,
             "created_at": stamp}])


def test_a_database_stamped_at_the_retired_0004_upgrades_with_its_rows(db_url: str) -> None:
    """0004 was an empty revision, now removed: `alembic upgrade 0004` only moved the stamp from 0003."""
    engine = create_engine(db_url)
    try:
        alembic_to(engine, "0003")
        seed_old_database(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0004'"))
        assert current_revision(engine) == "0004"

        migrate(engine)
        assert current_revision(engine) == head()
        assert schema_diff(engine) == []
        with engine.connect() as conn:
            kinds = dict(conn.execute(sa.select(t.predictions.c.id, t.predictions.c.kind)).all())
            assert conn.execute(sa.select(sa.func.count()).select_from(t.feedback)).scalar() == 2
        assert kinds == {"p-model": "model", "p-answer": "assistant"}  # old answers are found by their turns
        store = Store(db_url)
        try:
            assert [p["id"] for p in store.list_predictions()] == ["p-model"]
            assert [f["prediction_id"] for f in store.list_feedback()] == ["p-model"]
            assert store.feedback_counts("support") == {}
        finally:
            store.close()

        alembic_to(engine, "0003", down=True)  # and back: the column goes, no row is lost
        assert "kind" not in {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(t.feedback)).scalar() == 2
        migrate(engine)
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_a_database_at_0003_and_a_new_one_reach_the_same_head(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        alembic_to(engine, "0003")
        migrate(engine)
        migrate(engine)  # idempotent
        assert current_revision(engine) == head() and schema_diff(engine) == []
    finally:
        engine.dispose()
