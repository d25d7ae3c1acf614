"""The assistant's reads and writes over its tables (`tables.py`): registered builds, conversation turns, hand-offs.

Every answer is also logged as a prediction of kind 'assistant' (same id as its turn) through the registry's
`Store.log_predictions`, so `POST /v1/feedback` works on it; the assistant writes no shared table itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tunelab.apps.assistant import tables as t
from tunelab.apps.assistant.layout import load_assistant_manifest
from tunelab.apps.assistant.router import Answer
from tunelab.errors import ConflictError, NotFoundError, UsageError
from tunelab.registry import PredictionRecord, Store, check_name
from tunelab.registry.store import now

OPEN, RESOLVED = "open", "resolved"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=now().tzinfo)).isoformat()


@dataclass(frozen=True)
class AssistantVersion:
    name: str
    version: int
    path: str
    thresholds: dict[str, float]
    metrics: dict[str, Any]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "path": self.path, "thresholds": self.thresholds,
                "metrics": self.metrics, "created_at": self.created_at}


@dataclass(frozen=True)
class Turn:
    id: str
    assistant: str
    version: int
    conversation_id: str
    question: str | None
    route: str
    label: str
    answer: str | None
    confidence: float
    created_at: str


@dataclass(frozen=True)
class Handoff:
    id: int
    assistant: str
    version: int
    turn_id: str
    conversation_id: str
    question: str
    suggestions: list[dict[str, Any]]
    status: str
    label: str | None
    reply: str | None
    resolved_by: str | None
    created_at: str
    resolved_at: str | None


class AssistantStore:
    """Registered assistants, their conversations and hand-offs, in the registry database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # ---- registered builds -------------------------------------------------------------------------

    def register(self, path: str | Path, name: str) -> AssistantVersion:
        """Register a built assistant folder as the next version of `name`."""
        check_name(name, "assistant name")
        folder = Path(path).resolve()
        manifest = load_assistant_manifest(folder)  # raises for unfinished or foreign folders
        for _attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    last = conn.execute(sa.select(sa.func.max(t.assistants.c.version))
                                        .where(t.assistants.c.name == name)).scalar()
                    version = int(last or 0) + 1
                    conn.execute(t.assistants.insert().values(
                        name=name, version=version, path=str(folder), thresholds=manifest.thresholds,
                        metrics=manifest.calibration.get("metrics", {}), created_at=now()))
                return self.get(name, version)
            except IntegrityError:
                continue
        raise ConflictError(f"could not register a new version of assistant {name!r}: too many concurrent writes")

    def get(self, name: str, version: int | None = None) -> AssistantVersion:
        """A version of `name`, the newest when `version` is None."""
        check_name(name, "assistant name")
        query = sa.select(t.assistants).where(t.assistants.c.name == name)
        query = query.where(t.assistants.c.version == version) if version is not None else \
            query.order_by(t.assistants.c.version.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no assistant {name!r}" + (f" version {version}" if version is not None else ""),
                                hint="build one with `tunelab assistant build KB --name NAME`, or list them "
                                     "with `tunelab assistant list`")
        return _version(row)

    def list(self) -> list[AssistantVersion]:
        """Every registered version, by name then version."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.assistants).order_by(t.assistants.c.name, t.assistants.c.version)).all()
        return [_version(r) for r in rows]

    # ---- turns and hand-offs -----------------------------------------------------------------------

    def log_turn(self, turn_id: str, version: AssistantVersion, conversation_id: str, answer: Answer, *,
                 latency_ms: float, key_id: str | None = None, caller: str | None = None,
                 log_text: bool = True) -> int | None:
        """Write the answer as a prediction, a conversation turn and (when handed off) a hand-off, in one
        transaction; returns the hand-off id, if any."""
        stamp = now()
        question = answer.question if log_text else None
        output = {"label": answer.label, "score": answer.confidence, "route": answer.route, "answer": answer.answer,
                  "evidence": answer.evidence}
        record = PredictionRecord(turn_id, version.name, version.version, output, float(latency_ms), answer.question,
                                  key_id, caller, log_text)
        with self.engine.begin() as conn:
            self.store.log_predictions([record], kind=t.PREDICTION_KIND, conn=conn)
            conn.execute(t.assistant_turns.insert().values(
                id=turn_id, assistant=version.name, version=version.version, conversation_id=conversation_id,
                question=question, route=answer.route, label=answer.label, answer=answer.answer,
                confidence=answer.confidence, created_at=stamp))
            if answer.route != "handoff":
                return None
            result = conn.execute(t.handoffs.insert().values(
                assistant=version.name, version=version.version, turn_id=turn_id, conversation_id=conversation_id,
                question=answer.question, suggestions=[s for s in answer.to_dict()["suggestions"]], status=OPEN,
                created_at=stamp))
            return int(result.inserted_primary_key[0])

    def conversation(self, name: str, conversation_id: str, limit: int = 200) -> list[Turn]:
        query = (sa.select(t.assistant_turns).where(t.assistant_turns.c.assistant == name,
                                                    t.assistant_turns.c.conversation_id == conversation_id)
                 .order_by(t.assistant_turns.c.created_at, t.assistant_turns.c.id).limit(min(limit, 10_000)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Turn(**{**r._asdict(), "created_at": _iso(r.created_at)}) for r in rows]

    def handoffs(self, name: str, status: str | None = OPEN, limit: int = 100) -> list[Handoff]:
        """The hand-off queue of `name`, oldest first (`status` None: open and resolved)."""
        if status not in (OPEN, RESOLVED, None):
            raise UsageError(f"status must be {OPEN!r} or {RESOLVED!r}")
        query = sa.select(t.handoffs).where(t.handoffs.c.assistant == name)
        if status is not None:
            query = query.where(t.handoffs.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.handoffs.c.id).limit(min(limit, 10_000))).all()
        return [_handoff(r) for r in rows]

    def handoff(self, name: str, handoff_id: int) -> Handoff:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.handoffs).where(t.handoffs.c.assistant == name,
                                                           t.handoffs.c.id == int(handoff_id))).first()
        if row is None:
            raise NotFoundError(f"assistant {name!r} has no hand-off {handoff_id}")
        return _handoff(row)

    def resolve(self, name: str, handoff_id: int, label: str, *, reply: str | None = None,
                actor: str | None = None) -> Handoff:
        """Close a hand-off with the right label (checked by the caller against the KB); the label also goes to
        the feedback store on the answer's prediction id."""
        current = self.handoff(name, handoff_id)
        if current.status == RESOLVED:
            raise ConflictError(f"hand-off {handoff_id} is already resolved (as {current.label!r})")
        with self.engine.begin() as conn:
            done = conn.execute(t.handoffs.update().where(t.handoffs.c.id == current.id,
                                                          t.handoffs.c.status == OPEN)
                                .values(status=RESOLVED, label=label, reply=reply, resolved_by=(actor or "")[:64],
                                        resolved_at=now())).rowcount
        if not done:
            raise ConflictError(f"hand-off {handoff_id} was resolved by someone else a moment ago")
        try:
            self.store.add_feedback(current.turn_id, label=label, comment=reply, key_id=None)
        except NotFoundError:
            pass  # the answer's prediction was purged (retention); the hand-off itself keeps the label
        return self.handoff(name, handoff_id)

    def resolved_examples(self, name: str) -> list[tuple[str, str]]:
        """(question, label) of every resolved hand-off of `name`: training data for its next build."""
        query = (sa.select(t.handoffs.c.question, t.handoffs.c.label)
                 .where(t.handoffs.c.assistant == name, t.handoffs.c.status == RESOLVED).order_by(t.handoffs.c.id))
        with self.engine.connect() as conn:
            return [(q, str(label)) for q, label in conn.execute(query) if label]


def _version(row: Any) -> AssistantVersion:
    return AssistantVersion(row.name, int(row.version), row.path, dict(row.thresholds), dict(row.metrics),
                            _iso(row.created_at) or "")


def _handoff(row: Any) -> Handoff:
    d = row._asdict()
    return Handoff(**{**d, "suggestions": list(d["suggestions"] or []), "created_at": _iso(d["created_at"]),
                      "resolved_at": _iso(d["resolved_at"])})
