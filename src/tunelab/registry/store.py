"""The registry store: named models and their versions, aliases, A/B splits, prediction log, feedback, API keys.

One class over SQLAlchemy Core, the same code on SQLite and PostgreSQL. Every write is one transaction;
a method returns only after its transaction committed, so an acknowledged write survives a crash.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tunelab.errors import ArtifactError, ConflictError, NotFoundError, UnknownLabelError, UsageError
from tunelab.registry import audit, coordination
from tunelab.registry import keys as keylib
from tunelab.registry import schema as t
from tunelab.registry.abstats import sticky_choice
from tunelab.registry.db import create_engine, default_db_url, migrate
from tunelab.registry.names import ModelRef, check_name
from tunelab.tasks import Task, get_task, task_of_output

DEFAULT_ALIAS = "production"
MAX_VERSION = 2**31 - 1


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """`value` with its UTC timezone (SQLite hands back naive datetimes; PostgreSQL aware ones)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VersionInfo:
    model: str
    version: int
    run_path: str
    task: str
    labels: tuple[str, ...]
    metrics: dict[str, Any]
    base_model: str
    created_at: datetime
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "run_path": self.run_path, "task": self.task,
                "labels": list(self.labels), "metrics": self.metrics, "base_model": self.base_model,
                "created_at": self.created_at.isoformat(), "aliases": list(self.aliases)}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    created_at: datetime
    versions: tuple[VersionInfo, ...]
    aliases: dict[str, int] = field(default_factory=dict)
    split: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "created_at": self.created_at.isoformat(),
                "versions": [v.to_dict() for v in self.versions], "aliases": self.aliases,
                "split": {str(k): w for k, w in self.split.items()}}


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    scopes: tuple[str, ...]
    rate_per_s: float | None
    burst: int | None
    created_at: datetime
    revoked_at: datetime | None
    usage: dict[str, Any] = field(default_factory=dict)
    hash: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes), "rate_per_s": self.rate_per_s,
                "burst": self.burst, "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None, "usage": self.usage}


@dataclass(frozen=True)
class PredictionRecord:
    """One prediction to log (built by the server per text, or by an application per answer)."""

    id: str
    model: str
    version: int
    output: dict[str, Any]
    latency_ms: float
    text: str
    key_id: str | None = None
    caller: str | None = None
    log_text: bool = True
    score: float | None = None  # the top score, when the caller has it (the server does); else read by the task


def top_score(task: Task | None, output: Mapping[str, Any]) -> float | None:
    """The confidence of a logged output, as its task reads it (None for an output no task reads)."""
    return task.top_score(task.read_output(output)) if task is not None else None


def _check_kind(kind: str) -> str:
    """A prediction kind: 'model' or an application's name for its own predictions (1-16 of a-z and '_')."""
    if not isinstance(kind, str) or not 1 <= len(kind) <= 16 or not all("a" <= c <= "z" or c == "_" for c in kind):
        raise UsageError(f"invalid prediction kind {kind!r}",
                         hint=f"{t.MODEL_KIND!r} for a model's predictions, or 1-16 lower-case letters and '_'")
    return kind


def _prediction_of_kind(kind: str, since: datetime | None = None) -> Any:
    """A WHERE clause on `feedback`: its prediction is of `kind` (and logged at or after `since` when given)."""
    query = sa.select(t.predictions.c.id).where(t.predictions.c.kind == _check_kind(kind))
    if since is not None:
        query = query.where(t.predictions.c.created_at >= since)
    return t.feedback.c.prediction_id.in_(query)


def feedback_correct(task: Task | None, output: Mapping[str, Any], label: Any, thumb: int | None) -> bool | None:
    """Was the logged prediction right, judged by the label given (preferred) or the thumb?
    The prediction's task reads the label; one of the wrong shape for it is a UsageError."""
    if label is not None and task is not None:
        return task.feedback_agrees(task.read_output(output), label)
    if thumb is not None:
        return thumb > 0
    return None


def choose_version(ref: ModelRef, info: ModelInfo, caller: str | None = None) -> int:
    """Which version serves a request for `ref`: an explicit version; an alias; else the model's A/B split
    (sticky per caller: the same caller always gets the same version); else the `production` alias;
    else the newest version."""
    if ref.version is not None:
        if not any(v.version == ref.version for v in info.versions):
            raise NotFoundError(f"model {ref.name!r} has no version {ref.version}")
        return ref.version
    if ref.alias is not None:
        if ref.alias not in info.aliases:
            raise NotFoundError(f"model {ref.name!r} has no alias {ref.alias!r}",
                                hint=f"its aliases: {', '.join(info.aliases) or 'none'}")
        return info.aliases[ref.alias]
    if info.split:
        return sticky_choice(caller or "", info.split, salt=ref.name)
    if DEFAULT_ALIAS in info.aliases:
        return info.aliases[DEFAULT_ALIAS]
    if not info.versions:
        raise NotFoundError(f"model {ref.name!r} has no versions")
    return info.versions[-1].version


class Store:
    """The registry over one database URL. Thread-safe (one engine, a connection per call)."""

    def __init__(self, url: str | None = None, *, migrate_schema: bool = True) -> None:
        self.url = url or default_db_url()
        self.engine = create_engine(self.url)
        if migrate_schema:
            migrate(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # ---- models, versions, aliases -------------------------------------------------------------

    def register(self, run_path: str | Path, name: str, *, alias: str | None = None,
                 description: str = "", actor: str = "") -> VersionInfo:
        """Register a finished run folder as the next version of `name` (created if new)."""
        from tunelab.artifacts.manifest import load_manifest

        check_name(name)
        if alias is not None:
            check_name(alias, "alias")  # before anything is written: a bad alias must not leave a version
        if "\x00" in str(run_path):
            raise UsageError("run path contains a NUL byte")
        run = Path(run_path).resolve()
        manifest = load_manifest(run)  # raises for missing or unfinished runs
        if not (run / "model.safetensors").is_file():
            raise ArtifactError(f"{run} has no model.safetensors (the registry serves safetensors only)")
        for _attempt in range(5):  # concurrent registrations race for the next number: retry
            try:
                with self.engine.begin() as conn:
                    if conn.execute(sa.select(t.models.c.name).where(t.models.c.name == name)).first() is None:
                        conn.execute(t.models.insert().values(name=name, description=description, created_at=now()))
                    last = conn.execute(sa.select(sa.func.max(t.versions.c.version))
                                        .where(t.versions.c.model == name)).scalar()
                    version = int(last or 0) + 1
                    conn.execute(t.versions.insert().values(
                        model=name, version=version, run_path=str(run), task=manifest.task,
                        labels=list(manifest.labels), metrics=dict(manifest.metrics),
                        base_model=str(manifest.base_model), created_at=now()))
                    coordination.bump(conn, coordination.ROUTING)
                    audit.record(conn, "model.register", f"{name}@{version}", actor, run_path=str(run))
                break
            except IntegrityError:
                continue
        else:
            raise ConflictError(f"could not register a new version of {name!r}: too many concurrent registrations")
        if alias:
            self.set_alias(name, alias, version, actor=actor)
        return self.get_version(name, version)

    def list_models(self) -> list[ModelInfo]:
        with self.engine.connect() as conn:
            names = conn.execute(sa.select(t.models.c.name).order_by(t.models.c.name)).scalars().all()
        return [self.get_model(n) for n in names]

    def get_model(self, name: str) -> ModelInfo:
        check_name(name)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.models).where(t.models.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"no model named {name!r}", hint="list models with `tunelab models list`")
            aliases = {a.alias: a.version for a in conn.execute(
                sa.select(t.aliases).where(t.aliases.c.model == name).order_by(t.aliases.c.alias))}
            rows = conn.execute(sa.select(t.versions).where(t.versions.c.model == name)
                                .order_by(t.versions.c.version)).all()
            split = self._split(conn, name)
        versions = tuple(self._version(r, aliases) for r in rows)
        return ModelInfo(name, row.description, as_utc(row.created_at), versions, aliases, split)

    def get_version(self, name: str, version: int) -> VersionInfo:
        if not 1 <= int(version) <= MAX_VERSION:
            raise NotFoundError(f"model {name!r} has no version {version}")
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.versions).where(t.versions.c.model == name,
                                                           t.versions.c.version == int(version))).first()
            if row is None:
                self._require_model(conn, name)
                raise NotFoundError(f"model {name!r} has no version {version}")
            aliases = {a.alias: a.version for a in conn.execute(sa.select(t.aliases).where(t.aliases.c.model == name))}
        return self._version(row, aliases)

    def resolve(self, ref: ModelRef, caller: str | None = None) -> VersionInfo:
        """The version a request for `ref` gets (see `choose_version`)."""
        if ref.version is not None:
            return self.get_version(ref.name, ref.version)
        info = self.get_model(ref.name)
        version = choose_version(ref, info, caller)
        return next(v for v in info.versions if v.version == version)

    def set_alias(self, name: str, alias: str, version: int, *, actor: str = "") -> VersionInfo:
        """Point `alias` at `version` (promote); the move is recorded so it can be rolled back."""
        check_name(alias, "alias")
        target = self.get_version(name, version)
        with self.engine.begin() as conn:
            previous = conn.execute(sa.select(t.aliases.c.version).where(
                t.aliases.c.model == name, t.aliases.c.alias == alias)).scalar()
            if previous is None:
                conn.execute(t.aliases.insert().values(model=name, alias=alias, version=version, updated_at=now()))
            else:
                conn.execute(t.aliases.update().where(t.aliases.c.model == name, t.aliases.c.alias == alias)
                             .values(version=version, updated_at=now()))
            conn.execute(t.alias_events.insert().values(model=name, alias=alias, version=version,
                                                        previous_version=previous, actor=actor, at=now()))
            coordination.bump(conn, coordination.ROUTING)
            audit.record(conn, "alias.set", f"{name}@{alias}", actor, version=version, previous_version=previous)
        return self.get_version(target.model, target.version)

    def rollback_alias(self, name: str, alias: str = DEFAULT_ALIAS, *, actor: str = "") -> VersionInfo:
        """Move `alias` back to the version it pointed at before its last move."""
        check_name(alias, "alias")
        with self.engine.connect() as conn:
            event = conn.execute(sa.select(t.alias_events).where(
                t.alias_events.c.model == name, t.alias_events.c.alias == alias)
                .order_by(t.alias_events.c.id.desc()).limit(1)).first()
        if event is None:
            self.get_model(name)
            raise NotFoundError(f"model {name!r} has no alias {alias!r}")
        if event.previous_version is None:
            raise ConflictError(f"{name}@{alias} has no earlier version to roll back to")
        return self.set_alias(name, alias, event.previous_version, actor=actor)

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(t.alias_events).where(t.alias_events.c.model == name)
        if alias:
            query = query.where(t.alias_events.c.alias == alias)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.alias_events.c.id)).all()
        return [{"alias": r.alias, "version": r.version, "previous_version": r.previous_version,
                 "actor": r.actor, "at": as_utc(r.at).isoformat()} for r in rows]

    def set_split(self, name: str, weights: Mapping[int, float], *, actor: str = "") -> dict[int, float]:
        """A/B weights per version (they need not sum to 1); an empty mapping removes the split."""
        clean = {int(v): float(w) for v, w in weights.items()}
        if clean:
            if not all(math.isfinite(w) and w >= 0 for w in clean.values()) or sum(clean.values()) <= 0:
                raise UsageError("A/B weights must be finite, non-negative numbers with a positive sum")
            for version in clean:
                self.get_version(name, version)
        else:
            self.get_model(name)
        with self.engine.begin() as conn:
            conn.execute(t.splits.delete().where(t.splits.c.model == name))
            if clean:
                conn.execute(t.splits.insert().values(model=name, weights={str(k): w for k, w in clean.items()},
                                                      updated_at=now()))
            coordination.bump(conn, coordination.ROUTING)
            audit.record(conn, "split.set", name, actor, weights={str(k): w for k, w in clean.items()})
        return clean

    def get_split(self, name: str) -> dict[int, float]:
        with self.engine.connect() as conn:
            return self._split(conn, name)

    # ---- predictions and feedback --------------------------------------------------------------

    def log_predictions(self, records: Sequence[PredictionRecord], *, kind: str = t.MODEL_KIND,
                        conn: sa.Connection | None = None) -> None:
        """Write a batch of predictions in one transaction. `kind` is whose they are: 'model' for a registered
        model's, an application's own kind (e.g. 'assistant') for its answers. `conn`: join the caller's open
        transaction (an application that writes its own rows with the predictions, atomically)."""
        _check_kind(kind)
        if not records:
            return
        stamp = now()
        rows = [{"id": r.id, "model": r.model, "version": r.version, "key_id": r.key_id, "caller": r.caller,
                 "text": r.text if r.log_text else None, "text_hash": text_hash(r.text), "output": r.output,
                 "score": r.score, "latency_ms": float(r.latency_ms), "created_at": stamp, "kind": kind}
                for r in records]
        if conn is not None:
            self._score_rows(conn, rows, kind)
            conn.execute(t.predictions.insert(), rows)
            return
        with self.engine.begin() as new_conn:
            self._score_rows(new_conn, rows, kind)
            new_conn.execute(t.predictions.insert(), rows)

    def _score_rows(self, conn: Any, rows: list[dict[str, Any]], kind: str) -> None:
        """Each row's top score, read by its task: a model's from its registered version (one look-up per version),
        an application's answer from the shape of its output."""
        tasks: dict[tuple[str, int], Task | None] = {}
        for row in rows:
            if row["score"] is not None:  # given by the caller: no look-up on the predict path
                continue
            key = (row["model"], row["version"])
            if key not in tasks:
                tasks[key] = (self._task_of(conn, *key, row["output"]) if kind == t.MODEL_KIND
                              else task_of_output(row["output"]))
            row["score"] = top_score(tasks[key], row["output"])

    def get_prediction(self, prediction_id: str, *, kind: str | None = None) -> dict[str, Any]:
        """A logged prediction of any kind (`kind`: only of that kind; another kind is not found)."""
        query = sa.select(t.predictions).where(t.predictions.c.id == str(prediction_id))
        if kind is not None:
            query = query.where(t.predictions.c.kind == _check_kind(kind))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no prediction with id {prediction_id!r}" + (f" of kind {kind!r}" if kind else ""),
                                hint="it may be older than the log's retention period")
        return self._prediction(row)

    def list_predictions(self, *, model: str | None = None, version: int | None = None,
                         max_score: float | None = None, without_feedback: bool = False,
                         limit: int = 100, kind: str | None = t.MODEL_KIND) -> list[dict[str, Any]]:
        """Newest first; `max_score` keeps low-confidence ones (the review queue). Only registered models'
        predictions unless `kind` names another (None: every kind)."""
        query = sa.select(t.predictions)
        if kind is not None:
            query = query.where(t.predictions.c.kind == _check_kind(kind))
        if model:
            query = query.where(t.predictions.c.model == model)
        if version is not None:
            query = query.where(t.predictions.c.version == version)
        if max_score is not None:
            query = query.where(t.predictions.c.score <= max_score)
        if without_feedback:
            query = query.where(~sa.exists().where(t.feedback.c.prediction_id == t.predictions.c.id))
        query = query.order_by(t.predictions.c.created_at.desc(), t.predictions.c.id).limit(min(limit, 10_000))
        with self.engine.connect() as conn:
            return [self._prediction(r) for r in conn.execute(query)]

    def purge_predictions(self, older_than: datetime) -> int:
        """Delete logged predictions older than `older_than` that have no feedback (those are training
        data and stay); returns how many were deleted."""
        if older_than.tzinfo is None:
            raise UsageError("purge_predictions needs a timezone-aware datetime")
        older_than = older_than.astimezone(UTC)  # SQLite compares the stored UTC text literally
        has_feedback = sa.exists().where(t.feedback.c.prediction_id == t.predictions.c.id)
        with self.engine.begin() as conn:
            result = conn.execute(t.predictions.delete().where(t.predictions.c.created_at < older_than, ~has_feedback))
            return int(result.rowcount)

    def add_feedback(self, prediction_id: str, *, label: Any = None, thumb: int | None = None,
                     comment: str | None = None, key_id: str | None = None) -> dict[str, Any]:
        """Record feedback on a logged prediction; returns it with `correct` judged against the prediction."""
        if label is None and thumb is None and not comment:
            raise UsageError("feedback needs a label, a thumb (+1/-1) or a comment")
        if thumb is not None and thumb not in (-1, 1):
            raise UsageError("thumb must be 1 (up) or -1 (down)")
        prediction = self.get_prediction(prediction_id)
        with self.engine.connect() as conn:
            task = self._task_of(conn, prediction["model"], prediction["version"], prediction["output"])
        if label is not None and task is not None and prediction.get("kind", t.MODEL_KIND) == t.MODEL_KIND:
            self._check_feedback_labels(task, prediction["model"], prediction["version"], label)
        correct = feedback_correct(task, prediction["output"], label, thumb)
        row = {"prediction_id": prediction["id"], "model": prediction["model"], "version": prediction["version"],
               "label": label, "thumb": thumb, "comment": comment, "correct": correct, "key_id": key_id,
               "created_at": now()}
        with self.engine.begin() as conn:
            new_id = conn.execute(t.feedback.insert().values(**row)).inserted_primary_key[0]
        return {"id": int(new_id), **row, "created_at": row["created_at"].isoformat()}

    def list_feedback(self, *, model: str | None = None, version: int | None = None,
                      prediction_id: str | None = None, limit: int = 1000,
                      kind: str | None = t.MODEL_KIND) -> list[dict[str, Any]]:
        """Oldest first. Only feedback on registered models' predictions unless `kind` names another kind of
        prediction (None: every kind); with `prediction_id`, that prediction's feedback whatever its kind."""
        query = sa.select(t.feedback)
        if kind is not None and not prediction_id:
            query = query.where(_prediction_of_kind(kind))
        if model:
            query = query.where(t.feedback.c.model == model)
        if version is not None:
            query = query.where(t.feedback.c.version == version)
        if prediction_id:
            query = query.where(t.feedback.c.prediction_id == prediction_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.feedback.c.id).limit(min(limit, 100_000))).all()
        return [{**r._asdict(), "created_at": as_utc(r.created_at).isoformat()} for r in rows]

    def feedback_counts(self, name: str, *, kind: str = t.MODEL_KIND,
                        since: datetime | None = None) -> dict[int, tuple[int, int]]:
        """Per version: (correct, judged) over feedback that says whether the prediction was right.
        Only the latest feedback per prediction counts; only on predictions of `kind` (a model's by default), and
        with `since`, only on predictions logged at or after it."""
        latest = (sa.select(sa.func.max(t.feedback.c.id)).where(t.feedback.c.model == name,
                                                               t.feedback.c.correct.is_not(None),
                                                               _prediction_of_kind(kind, since))
                  .group_by(t.feedback.c.prediction_id))
        query = (sa.select(t.feedback.c.version, sa.func.count(),
                           sa.func.sum(sa.case((t.feedback.c.correct.is_(True), 1), else_=0)))
                 .where(t.feedback.c.id.in_(latest)).group_by(t.feedback.c.version))
        with self.engine.connect() as conn:
            return {int(v): (int(c or 0), int(n)) for v, n, c in conn.execute(query)}

    # ---- API keys ------------------------------------------------------------------------------

    def create_key(self, name: str, scopes: str | Iterable[str], *, rate_per_s: float | None = None,
                   burst: int | None = None, actor: str = "") -> tuple[KeyInfo, str]:
        """A new key; returns (info, token). The token is shown once: only its hash is stored."""
        check_name(name, "key name")
        scope_list = keylib.parse_scopes(scopes if isinstance(scopes, str) else list(scopes))
        new = keylib.generate()
        try:
            with self.engine.begin() as conn:
                conn.execute(t.api_keys.insert().values(
                    id=new.key_id, name=name, hash=keylib.hash_secret(new.secret), scopes=",".join(scope_list),
                    rate_per_s=rate_per_s, burst=burst, created_at=now()))
                conn.execute(t.key_usage.insert().values(key_id=new.key_id, requests=0, texts=0, tokens=0, errors=0))
                coordination.bump(conn, coordination.KEYS)  # replicas may have cached "no such key"
                audit.record(conn, "key.create", new.key_id, actor, name=name, scopes=scope_list)
        except IntegrityError:
            raise ConflictError(f"an API key named {name!r} exists already",
                                hint="pick another name, or revoke the old key first") from None
        return self.get_key(new.key_id), new.token

    def get_key(self, key_id_or_name: str) -> KeyInfo:
        """By id first, then by name."""
        info = self.key_by_id(key_id_or_name)
        if info is None:
            with self.engine.connect() as conn:
                key_id = conn.execute(sa.select(t.api_keys.c.id).where(t.api_keys.c.name == key_id_or_name)).scalar()
            info = self.key_by_id(key_id) if key_id else None
        if info is None:
            raise NotFoundError(f"no API key {key_id_or_name!r}")
        return info

    def key_by_id(self, key_id: str) -> KeyInfo | None:
        """The key with this id (ids only: a key's name can never stand in for another key's id)."""
        query = (sa.select(t.api_keys, t.key_usage).join(t.key_usage, t.key_usage.c.key_id == t.api_keys.c.id,
                                                          isouter=True).where(t.api_keys.c.id == key_id))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._key(row)

    def list_keys(self) -> list[KeyInfo]:
        query = (sa.select(t.api_keys, t.key_usage)
                 .join(t.key_usage, t.key_usage.c.key_id == t.api_keys.c.id, isouter=True)
                 .order_by(t.api_keys.c.created_at))
        with self.engine.connect() as conn:
            return [self._key(r) for r in conn.execute(query)]

    def revoke_key(self, key_id_or_name: str, *, actor: str = "") -> KeyInfo:
        key = self.get_key(key_id_or_name)
        with self.engine.begin() as conn:
            conn.execute(t.api_keys.update().where(t.api_keys.c.id == key.id, t.api_keys.c.revoked_at.is_(None))
                         .values(revoked_at=now()))
            conn.execute(t.sessions.delete().where(t.sessions.c.key_id == key.id))  # its dashboard logins end
            coordination.bump(conn, coordination.KEYS)
            audit.record(conn, "key.revoke", key.id, actor, name=key.name)
        return self.get_key(key.id)

    def add_usage(self, deltas: Mapping[str, Mapping[str, int]]) -> None:
        """Add counters per key id ({key_id: {requests, texts, tokens, errors}}) in one transaction."""
        if not deltas:
            return
        stamp = now()
        with self.engine.begin() as conn:
            for key_id, d in deltas.items():
                u = t.key_usage.c
                conn.execute(t.key_usage.update().where(u.key_id == key_id).values(
                    requests=u.requests + int(d.get("requests", 0)), texts=u.texts + int(d.get("texts", 0)),
                    tokens=u.tokens + int(d.get("tokens", 0)), errors=u.errors + int(d.get("errors", 0)),
                    last_used_at=stamp))

    # ---- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _require_model(conn: Any, name: str) -> None:
        if conn.execute(sa.select(t.models.c.name).where(t.models.c.name == name)).first() is None:
            raise NotFoundError(f"no model named {name!r}", hint="list models with `tunelab models list`")

    @staticmethod
    def _split(conn: Any, name: str) -> dict[int, float]:
        weights = conn.execute(sa.select(t.splits.c.weights).where(t.splits.c.model == name)).scalar()
        return {int(k): float(w) for k, w in (weights or {}).items()}

    @staticmethod
    def _version(row: Any, aliases: Mapping[str, int]) -> VersionInfo:
        return VersionInfo(row.model, int(row.version), row.run_path, row.task, tuple(row.labels), dict(row.metrics),
                           row.base_model, as_utc(row.created_at),
                           tuple(sorted(a for a, v in aliases.items() if v == row.version)))

    def _check_feedback_labels(self, task: Task, model: str, version: int, label: Any) -> None:
        """A corrected label must be one the model knows (its labels; for NER its entity types): 422 otherwise.
        Free text here would become training data and land in exports (`=cmd|...` in a spreadsheet)."""
        try:
            allowed = task.display_labels(self.get_version(model, version).labels)
        except NotFoundError:  # logged for a version no longer (or never) registered: nothing to check against
            return
        unknown = sorted(task.feedback_label_names(label) - set(allowed))
        if unknown:
            named = ", ".join(repr(u[:64]) for u in unknown[:5])
            raise UnknownLabelError(f"{named} is not a label of {model}@{version}", allowed=allowed,
                                    hint=f"use one of: {', '.join(allowed[:50])}")

    @staticmethod
    def _task_of(conn: Any, model: str, version: int, output: Mapping[str, Any]) -> Task | None:
        """The task of a logged prediction: its registered version's; for an output logged by an app without
        a registry version (an assistant's answer), the task whose output it is."""
        row = conn.execute(sa.select(t.versions.c.task).where(t.versions.c.model == model,
                                                              t.versions.c.version == int(version))).first()
        return get_task(row.task) if row is not None else task_of_output(output)

    @staticmethod
    def _prediction(row: Any) -> dict[str, Any]:
        out = row._asdict()
        out["created_at"] = as_utc(out["created_at"]).isoformat()
        return out

    @staticmethod
    def _key(row: Any) -> KeyInfo:
        m = row._mapping
        usage = {k: int(m[k] or 0) for k in ("requests", "texts", "tokens", "errors")}
        last = as_utc(m["last_used_at"])
        usage["last_used_at"] = last.isoformat() if last else None
        return KeyInfo(m["id"], m["name"], tuple(m["scopes"].split(",")), m["rate_per_s"], m["burst"],
                       as_utc(m["created_at"]), as_utc(m["revoked_at"]), usage, m["hash"])
