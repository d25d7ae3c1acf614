"""Database engines for the registry: SQLite (WAL, the embedded default) or PostgreSQL (several replicas).

Schema changes go through the database's one Alembic history (`tunelab/migrations`: the registry's tables and the
applications'), applied by `migrate()` on start-up; on PostgreSQL an advisory lock makes replicas that start
together migrate one at a time. Only its folder is named here: the registry never imports the applications.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tunelab import extras
from tunelab.errors import UsageError
from tunelab.home import home

MIGRATIONS = Path(__file__).parents[1] / "migrations"
_PG_MIGRATION_LOCK = 7_347_001  # arbitrary constant: the advisory lock id for migrations


def default_db_url() -> str:
    """`TUNELAB_DB`, else a SQLite file in TuneLab's home folder (`home()`: $TUNELAB_HOME, else ~/.tunelab)."""
    url = os.environ.get("TUNELAB_DB")
    if url:
        return url
    return f"sqlite:///{home() / 'registry.db'}"


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` (psycopg 3 driver), `sqlite:///path`, or a bare file path."""
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    if scheme.startswith("postgresql+") or scheme.startswith("sqlite"):
        return url
    raise UsageError(f"unsupported database URL scheme {scheme!r}",
                     hint="use sqlite:///path/registry.db or postgresql://user:pass@host/db")


def redact(url: str) -> str:
    """The URL with its password replaced, for logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown without its credentials part
        return url.split("@")[-1]


def create_engine(url: str) -> Any:
    """An engine with the right settings for the backend (WAL + busy timeout for SQLite; pool for PostgreSQL)."""
    import sqlalchemy as sa
    from sqlalchemy import event

    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes (kill -9) in WAL mode
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql+psycopg"):
        extras.check("psycopg", "a PostgreSQL registry")
    return sa.create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True,
                            connect_args={"connect_timeout": 10})


def migrate(engine: Any) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    import logging

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines are noise in a server log
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(engine: Any) -> str | None:
    """The schema revision in the database (raises when the database cannot be reached)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
