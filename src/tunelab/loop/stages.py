"""Reads and writes of `loop_stages` and `shadow_answers`: open, find and close a challenger's stage; record and
read the challenger's shadow answers; count the stage's live traffic and its feedback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tunelab.errors import NotFoundError
from tunelab.loop.tables import loop_stages as st
from tunelab.loop.tables import shadow_answers as sh
from tunelab.registry import Store, coordination
from tunelab.registry import schema as t
from tunelab.registry.store import as_utc

SHADOW, CANARY = "shadow", "canary"
OPEN = "open"


@dataclass(frozen=True)
class Stage:
    """A challenger that passed the golden set, in its shadow or canary stage."""

    id: int
    model: str
    alias: str
    kind: str  # shadow | canary
    champion_version: int
    challenger_version: int
    requests: int  # live predictions it waits for
    hours: float | None  # or this long
    share: float | None  # canary: the challenger's share of callers; shadow: of live predictions (None: all)
    decision_id: int  # the `staged` decision that opened it
    status: str  # open | promoted | refused
    started_at: datetime
    ended_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.hours is not None and now - self.started_at >= timedelta(hours=self.hours)


@dataclass(frozen=True)
class ShadowAnswer:
    """The challenger's answer to one live prediction (its output as the prediction log keeps outputs)."""

    stage_id: int
    prediction_id: str
    version: int
    output: dict[str, Any]
    latency_ms: float


@dataclass(frozen=True)
class Shadowed:
    """A live prediction of the stage with the champion's logged answer and the challenger's shadow answer."""

    prediction_id: str
    text: str | None  # None when only the text's hash was logged
    champion: dict[str, Any]
    challenger: dict[str, Any]


@dataclass(frozen=True)
class Judged:
    """Feedback that says whether a prediction was right: how many were, of how many judged."""

    correct: int
    judged: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.judged if self.judged else None


def _stage(r: Any) -> Stage:
    started = as_utc(r.started_at)
    assert started is not None  # a NOT NULL column
    return Stage(int(r.id), r.model, r.alias, r.kind, int(r.champion_version), int(r.challenger_version),
                 int(r.requests), r.hours, r.share, int(r.decision_id), r.status, started, as_utc(r.ended_at))


def open_stage(store: Store, *, model: str, alias: str, kind: str, champion_version: int, challenger_version: int,
               requests: int, hours: float | None, share: float | None, decision_id: int) -> Stage:
    """Insert an open stage (the server's shadow cache hears of it through the routing change counter)."""
    with store.engine.begin() as conn:
        new_id = conn.execute(st.insert().values(
            model=model, alias=alias, kind=kind, champion_version=champion_version,
            challenger_version=challenger_version, requests=requests, hours=hours, share=share,
            decision_id=decision_id, status=OPEN, started_at=datetime.now(UTC))).inserted_primary_key[0]
        coordination.bump(conn, coordination.ROUTING)
    return get_stage(store, int(new_id))


def get_stage(store: Store, stage_id: int) -> Stage:
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(st).where(st.c.id == stage_id)).first()
    if r is None:
        raise NotFoundError(f"no loop stage {stage_id}")
    return _stage(r)


def current_stage(store: Store, model: str) -> Stage | None:
    """The model's open stage (at most one: the loop opens none while one is open)."""
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(st).where(st.c.model == model, st.c.status == OPEN)
                         .order_by(st.c.id.desc()).limit(1)).first()
    return _stage(r) if r is not None else None


def close_stage(store: Store, stage_id: int, status: str) -> Stage:
    """Mark the stage promoted or refused (the server stops shadowing it)."""
    with store.engine.begin() as conn:
        conn.execute(st.update().where(st.c.id == stage_id).values(status=status, ended_at=datetime.now(UTC)))
        coordination.bump(conn, coordination.ROUTING)
    return get_stage(store, stage_id)


def record_answers(store: Store, answers: Sequence[ShadowAnswer]) -> None:
    """Write the challenger's shadow answers in one transaction."""
    if not answers:
        return
    stamp = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(sh.insert(), [{"stage_id": a.stage_id, "prediction_id": a.prediction_id, "version": a.version,
                                    "output": a.output, "latency_ms": a.latency_ms, "created_at": stamp}
                                   for a in answers])


def seen(store: Store, stage: Stage) -> int:
    """Live predictions of the stage so far: shadow answers recorded, or predictions the canary answered."""
    if stage.kind == SHADOW:
        query = sa.select(sa.func.count()).select_from(sh).where(sh.c.stage_id == stage.id)
    else:
        query = sa.select(sa.func.count()).select_from(t.predictions).where(
            t.predictions.c.model == stage.model, t.predictions.c.version == stage.challenger_version,
            t.predictions.c.kind == t.MODEL_KIND, t.predictions.c.created_at >= stage.started_at)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def shadowed(store: Store, stage: Stage, limit: int = 100_000) -> list[Shadowed]:
    """The stage's shadow answers beside the champion's logged answers, oldest first."""
    p = t.predictions
    query = (sa.select(p.c.id, p.c.text, p.c.output, sh.c.output.label("challenger"))
             .join(p, p.c.id == sh.c.prediction_id).where(sh.c.stage_id == stage.id).order_by(sh.c.id).limit(limit))
    with store.engine.connect() as conn:
        return [Shadowed(r.id, r.text, dict(r.output), dict(r.challenger)) for r in conn.execute(query)]


def labels_given(store: Store, prediction_ids: Sequence[str]) -> dict[str, Any]:
    """The newest label given as feedback on each of these predictions (those with one)."""
    f = t.feedback
    found: dict[str, Any] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(prediction_ids), 500):
            chunk = list(prediction_ids[start:start + 500])
            rows = conn.execute(sa.select(f.c.prediction_id, f.c.label).where(
                f.c.prediction_id.in_(chunk), f.c.label.is_not(None)).order_by(f.c.id))
            found.update({r.prediction_id: r.label for r in rows})
    return found
