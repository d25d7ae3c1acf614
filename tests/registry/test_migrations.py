"""The Alembic migrations build exactly the tables in `schema.py` (a table added without a migration fails here)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tunelab.registry.db import create_engine, migrate
from tunelab.registry.schema import metadata


def test_migrations_match_schema(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"schema.py and the migrations differ: {diff}"
    engine.dispose()
