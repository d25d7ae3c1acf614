"""Reads and writes of `loop_decisions`: record a decision, list a model's history, mark a rollback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tunelab.errors import NotFoundError
from tunelab.loop.tables import loop_decisions as d
from tunelab.registry import Store, VersionInfo
from tunelab.registry.store import as_utc

PROMOTED = "promoted"
REFUSED = "refused"
STAGED = "staged"  # passed the golden set; in its shadow or canary stage (a later decision settles it)


@dataclass(frozen=True)
class DecisionRow:
    """One recorded decision."""

    id: int
    model: str
    alias: str
    champion_version: int
    challenger_version: int | None
    decision: str
    reason: str
    summary: dict[str, Any]
    report_path: str
    last_feedback_id: int
    created_at: datetime
    rolled_back_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "alias": self.alias, "champion_version": self.champion_version,
                "challenger_version": self.challenger_version, "decision": self.decision, "reason": self.reason,
                "summary": self.summary, "report_path": self.report_path, "last_feedback_id": self.last_feedback_id,
                "created_at": self.created_at.isoformat(),
                "rolled_back_at": self.rolled_back_at.isoformat() if self.rolled_back_at else None}


def _row(r: Any) -> DecisionRow:
    created = as_utc(r.created_at)
    assert created is not None  # a NOT NULL column
    return DecisionRow(int(r.id), r.model, r.alias, int(r.champion_version), r.challenger_version, r.decision,
                       r.reason, dict(r.summary), r.report_path, int(r.last_feedback_id), created,
                       as_utc(r.rolled_back_at))


def record_decision(store: Store, row: DecisionRow) -> DecisionRow:
    """Insert a decision (its `id` and `created_at` are assigned here); returns it as stored."""
    values = {k: v for k, v in row.to_dict().items() if k not in ("id", "created_at", "rolled_back_at")}
    with store.engine.begin() as conn:
        new_id = conn.execute(d.insert().values(**values, created_at=datetime.now(UTC))).inserted_primary_key[0]
    return get_decision(store, int(new_id))


def get_decision(store: Store, decision_id: int) -> DecisionRow:
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(d).where(d.c.id == decision_id)).first()
    if r is None:
        raise NotFoundError(f"no loop decision {decision_id}")
    return _row(r)


def list_decisions(store: Store, model: str | None = None, limit: int = 100) -> list[DecisionRow]:
    """Newest first."""
    query = sa.select(d).order_by(d.c.id.desc()).limit(min(limit, 10_000))
    if model:
        query = query.where(d.c.model == model)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def last_decision(store: Store, model: str) -> DecisionRow | None:
    rows = list_decisions(store, model, limit=1)
    return rows[0] if rows else None


def mark_rolled_back(store: Store, model: str, version: int) -> DecisionRow | None:
    """Mark the newest promotion of `model` to `version` not yet rolled back; None when there is none."""
    with store.engine.begin() as conn:
        r = conn.execute(sa.select(d).where(d.c.model == model, d.c.decision == PROMOTED,
                                            d.c.challenger_version == version, d.c.rolled_back_at.is_(None))
                         .order_by(d.c.id.desc()).limit(1)).first()
        if r is None:
            return None
        conn.execute(d.update().where(d.c.id == r.id).values(rolled_back_at=datetime.now(UTC)))
    return get_decision(store, int(r.id))


def rollback(store: Store, model: str, alias: str = "production", *, actor: str = "loop"
             ) -> tuple[VersionInfo, DecisionRow | None]:
    """Move `alias` back one step (the registry's rollback) and mark the loop's promotion it undoes, if any."""
    current = store.get_model(model).aliases.get(alias)
    info = store.rollback_alias(model, alias, actor=actor)
    return info, mark_rolled_back(store, model, current) if current is not None else None
