"""What lets several server replicas on one database act as one: change counters and shared rate-limit buckets.

    change_counters  one row per topic ("keys", "routing", "monitors"): a writer bumps it in the transaction that
                     changes the topic; every replica polls the counters (`read_counters`) and drops its caches
                     of a topic whose counter moved, so revocations and promotions show within one poll
    rate_buckets     one token bucket per API key id, kept by PostgreSQL: `take_tokens` is one atomic upsert
                     per request on the database's clock, so N replicas together allow the key's limit, not N times it

Tables on the shared `MetaData` (made by migration 0008; listed in `tunelab.migrations.tables`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, DateTime, Float, String, Table

from tunelab.registry.schema import metadata

KEYS, ROUTING, MONITORS = "keys", "routing", "monitors"  # the topics

change_counters = Table(
    "change_counters", metadata,
    Column("topic", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

rate_buckets = Table(
    "rate_buckets", metadata,
    Column("key", String(64), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("wait_s", Float, nullable=False),  # the last request's answer: 0 granted, else seconds to wait
)


def bump(conn: Any, topic: str) -> None:
    """Count one change of `topic`, inside the caller's transaction (so it commits with the change)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(change_counters).values(topic=topic, version=1)
    conn.execute(statement.on_conflict_do_update(index_elements=["topic"],
                                                 set_={"version": change_counters.c.version + 1}))


def read_counters(engine: Any) -> dict[str, int]:
    """Every topic's counter (a topic never changed is absent)."""
    with engine.connect() as conn:
        return {row.topic: int(row.version) for row in conn.execute(sa.select(change_counters))}


# The bucket's tokens now: refilled at `rate` since its last update, capped at `burst`. The database's clock is the
# only clock (replicas' clocks may differ); a statement that waited for the row lock sees no negative time.
_AVAILABLE = ("LEAST(:burst, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM statement_timestamp() - b.updated_at))"
              " * :rate)")
_TAKE = sa.text(f"""
INSERT INTO rate_buckets AS b (key, tokens, updated_at, wait_s)
VALUES (:key, :burst - :cost, statement_timestamp(), 0)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN {_AVAILABLE} >= :cost THEN {_AVAILABLE} - :cost ELSE {_AVAILABLE} END,
    wait_s = CASE WHEN {_AVAILABLE} >= :cost THEN 0 ELSE (:cost - {_AVAILABLE}) / :rate END,
    updated_at = GREATEST(b.updated_at, statement_timestamp())
RETURNING wait_s
""")


def bucket_engine(url: Any) -> Any:
    """An engine for `take_tokens`: autocommit (the upsert is atomic alone: no BEGIN/COMMIT round trips), no ping
    on checkout (a dropped connection is retried once instead), so a request costs one round trip; and no wait for
    the WAL flush (`synchronous_commit=off`): a database crash may forget the last few milliseconds of buckets."""
    return sa.create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=False, isolation_level="AUTOCOMMIT",
                            connect_args={"connect_timeout": 10, "options": "-c synchronous_commit=off"})


def take_tokens(engine: Any, key: str, cost: float, rate: float, burst: float) -> float:
    """PostgreSQL only: take `cost` tokens from `key`'s shared bucket; 0.0 if taken, else seconds to wait.
    `rate` > 0 and `cost` <= `burst` (the caller checked them). `engine`: from `bucket_engine`."""
    params = {"key": key, "cost": float(cost), "rate": float(rate), "burst": float(burst)}
    for attempt in (1, 2):
        try:
            with engine.connect() as conn:
                return float(conn.execute(_TAKE, params).scalar_one())
        except sa.exc.DBAPIError as error:
            if attempt == 2 or not error.connection_invalidated:
                raise
    raise AssertionError("unreachable")
