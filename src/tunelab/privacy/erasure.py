"""The right to erasure: delete everything stored for a caller id or a conversation, in one transaction, with an
entry in the audit log (`tunelab data forget --caller X` / `--conversation C`).

What goes: the caller's logged predictions (model and assistant answers alike: `predictions.caller`), the
feedback on them, the assistant turns and hand-offs of those predictions and of the named conversation. The audit
entry records the counts and a SHA-256 of the id, never the id itself. Monitor items (news, not people's messages)
and aggregates without texts are not touched."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tunelab.apps.assistant import tables as assistant
from tunelab.errors import UsageError
from tunelab.registry import audit
from tunelab.registry import schema as registry


@dataclass
class ErasureReport:
    subject: str  # "caller" or "conversation"
    subject_hash: str
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def forget(engine: Any, *, caller: str | None = None, conversation: str | None = None,
           actor: str | None = None) -> ErasureReport:
    """Delete what is stored for exactly one of `caller`, `conversation`."""
    if (caller is None) == (conversation is None) or not (caller or conversation or "").strip():
        raise UsageError("name exactly one non-empty --caller or --conversation")
    subject, value = ("caller", caller) if caller is not None else ("conversation", conversation)
    assert value is not None
    report = ErasureReport(subject, hashlib.sha256(value.encode("utf-8")).hexdigest())
    p, turns, handoffs = registry.predictions, assistant.assistant_turns, assistant.handoffs
    with engine.begin() as conn:
        if caller is not None:
            ids = [r[0] for r in conn.execute(sa.select(p.c.id).where(p.c.caller == caller))]
        else:
            ids = [r[0] for r in conn.execute(sa.select(turns.c.id).where(turns.c.conversation_id == conversation))]
        for chunk in _chunks(ids):
            _count(report, "feedback", conn.execute(registry.feedback.delete().where(
                registry.feedback.c.prediction_id.in_(chunk))))
            _count(report, "handoffs", conn.execute(handoffs.delete().where(handoffs.c.turn_id.in_(chunk))))
            _count(report, "assistant_turns", conn.execute(turns.delete().where(turns.c.id.in_(chunk))))
            _count(report, "predictions", conn.execute(p.delete().where(p.c.id.in_(chunk))))
        if conversation is not None:
            _count(report, "handoffs", conn.execute(handoffs.delete().where(
                handoffs.c.conversation_id == conversation)))
        audit.record(conn, "data.forget", f"{subject}:sha256:{report.subject_hash[:16]}", actor,
                     deleted=dict(report.deleted))
    return report


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _count(report: ErasureReport, table: str, result: Any) -> None:
    report.deleted[table] = report.deleted.get(table, 0) + int(result.rowcount or 0)
