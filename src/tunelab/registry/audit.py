"""The audit log: an append-only table of administrative actions (keys created or revoked, versions registered,
aliases moved, A/B splits set, personal data erased, data keys rotated): who, what, on what, when.

Rows are only ever inserted: the store has no call that changes or deletes one, and the database refuses to
(triggers made by migration 0010 abort any UPDATE or DELETE on the table, in SQLite and PostgreSQL). A row names
people only by hash: an erased caller's id is not kept in the log that records its erasure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table

from tunelab.registry.schema import metadata

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),  # an API key's name, "cli", or "dashboard:<key name>"
    Column("action", String(64), nullable=False),  # key.create, key.revoke, model.register, alias.set, ...
    Column("target", String(256), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_audit_log_at", "at"),
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]


def record(conn: Any, action: str, target: str, actor: str | None = None, **details: Any) -> None:
    """Append one entry inside the caller's transaction (it commits, or rolls back, with the action)."""
    conn.execute(audit_log.insert().values(at=datetime.now(UTC), actor=(actor or "cli")[:128], action=action,
                                           target=target[:256], details=details))


def entries(engine: Any, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
    """The newest entries first."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [AuditEntry(r.id, (r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)).isoformat(timespec="seconds"),
                       r.actor, r.action, r.target, dict(r.details or {})) for r in rows]
