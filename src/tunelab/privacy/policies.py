"""Per-target redaction policies: a model, an assistant or a monitor that redacts by its own policy, not the server's.

    privacy_policies  one row per (kind, name): the types and mode that replace the server's policy for the texts
                      stored on that target's behalf (prediction log, turns and hand-offs, monitor items)

`PolicyStore` writes them (each write is an audit-log entry and bumps the "privacy" change counter, so every
replica drops its cache); `Redactors.for_target(kind, name)` is the Redactor to store a target's texts with.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import JSON, Column, DateTime, PrimaryKeyConstraint, String, Table

from tunelab.errors import NotFoundError, UsageError
from tunelab.privacy.redactor import RedactionPolicy, Redactor, parse_types, policy_for
from tunelab.registry import audit, coordination
from tunelab.registry.schema import metadata
from tunelab.registry.store import as_utc

KINDS = ("model", "assistant", "monitor")
PRIVACY = "privacy"  # the change-counter topic

privacy_policies = Table(
    "privacy_policies", metadata,
    Column("kind", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("types", JSON, nullable=False),  # a list of type names; empty: this target stores texts unredacted
    Column("mode", String(8), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("kind", "name"),
)


@dataclass(frozen=True)
class TargetPolicy:
    """The policy of one target; `policy.types` empty means: store this target's texts as sent."""

    kind: str
    name: str
    policy: RedactionPolicy
    updated_at: str


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"kind: must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


class PolicyStore:
    """Read and write the per-target policies on the registry's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get(self, kind: str, name: str) -> TargetPolicy | None:
        table = privacy_policies
        query = sa.select(table).where(table.c.kind == check_kind(kind), table.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _target(row) if row is not None else None

    def require(self, kind: str, name: str) -> TargetPolicy:
        found = self.get(kind, name)
        if found is None:
            raise NotFoundError(f"no privacy policy for {kind} {name!r}", hint="the server's policy applies to it")
        return found

    def list(self) -> list[TargetPolicy]:
        table = privacy_policies
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table).order_by(table.c.kind, table.c.name)).all()
        return [_target(row) for row in rows]

    def set(self, kind: str, name: str, policy: RedactionPolicy, actor: str | None = None) -> TargetPolicy:
        table, stamp = privacy_policies, datetime.now(UTC)
        where = (table.c.kind == check_kind(kind)) & (table.c.name == name)
        values = {"types": list(policy.types), "mode": policy.mode, "updated_at": stamp}
        with self.engine.begin() as conn:
            previous = conn.execute(sa.select(table).where(where)).first()
            if previous is None:
                conn.execute(table.insert().values(kind=kind, name=name, **values))
            else:
                conn.execute(table.update().where(where).values(**values))
            audit.record(conn, "privacy.set", f"{kind}:{name}", actor, types=list(policy.types), mode=policy.mode,
                         previous=None if previous is None else {"types": list(previous.types),
                                                                 "mode": previous.mode})
            coordination.bump(conn, PRIVACY)
        return TargetPolicy(kind, name, policy, stamp.isoformat(timespec="seconds"))

    def delete(self, kind: str, name: str, actor: str | None = None) -> TargetPolicy:
        table = privacy_policies
        found = self.require(kind, name)
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.kind == kind, table.c.name == name))
            audit.record(conn, "privacy.delete", f"{kind}:{name}", actor, types=list(found.policy.types),
                         mode=found.policy.mode)
            coordination.bump(conn, PRIVACY)
        return found


def _target(row: sa.Row) -> TargetPolicy:
    stamp = as_utc(row.updated_at)
    assert stamp is not None  # a NOT NULL column
    return TargetPolicy(row.kind, row.name, RedactionPolicy(tuple(row.types or ()), row.mode),
                        stamp.isoformat(timespec="seconds"))


class Redactors:
    """The Redactor for each target: its own policy's, else the server's default. Built once per target and
    cached; `forget_all` (after a write, here or in another replica) drops the cache."""

    def __init__(self, default: Redactor, policies: PolicyStore | None = None,
                 build: Callable[[Sequence[str], str], Redactor] | None = None, *, has_ner: bool = False) -> None:
        self.default = default
        self.policies = policies
        self.has_ner = has_ner  # whether `build` has an NER model for the name types
        self.build = build or (lambda types, mode: Redactor(RedactionPolicy(parse_types(types), mode)))
        self._cache: dict[tuple[str, str], Redactor] = {}
        self._lock = threading.Lock()

    def for_target(self, kind: str, name: str) -> Redactor:
        if self.policies is None:
            return self.default
        key = (kind, name)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        found = self.policies.get(kind, name)
        redactor = self.default if found is None else self._build(found)
        with self._lock:
            self._cache[key] = redactor
        return redactor

    def _build(self, found: TargetPolicy) -> Redactor:
        try:
            return self.build(found.policy.types, found.policy.mode)
        except UsageError as error:  # stored when the server had an NER model, read by one without: refuse
            raise UsageError(f"the privacy policy of {found.kind} {found.name!r} cannot be applied: {error.message}",
                             hint="start the server with its privacy_ner_model, or change the policy") from None

    def resolve(self, types: Sequence[str], mode: str) -> RedactionPolicy:
        """The policy to store for `types` (`all`: what the server's detectors find) and `mode`; else the error
        (an NER type with no NER model) naming the field. Nothing is built or loaded to say so."""
        try:
            return policy_for(types, mode, has_ner=self.has_ner)
        except UsageError as error:
            raise UsageError(f"types: {error.message}", hint=error.hint) from None

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()
