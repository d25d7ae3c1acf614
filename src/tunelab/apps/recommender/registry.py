"""The recommender's reads and writes over its tables (`tables.py`): registered builds, logged events, API items."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tunelab.apps.recommender import tables as t
from tunelab.artifacts.files import read_json, write_text_atomic
from tunelab.errors import ArtifactError, ConflictError, NotFoundError
from tunelab.registry import Store, check_name
from tunelab.registry.store import now

EVENT_COLUMNS = ("user_id", "item_id", "timestamp", "event", "value")  # what `export_events` writes


def _iso(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


@dataclass(frozen=True)
class RecommenderVersion:
    name: str
    version: int
    path: str
    metrics: dict[str, Any]  # the build's evaluation table: model -> metrics
    created_at: str


@dataclass(frozen=True)
class Event:
    """What a user did with an item (typically one that was recommended): impression, click, purchase..."""

    user_id: str
    item_id: str
    event: str
    value: float | None = None
    at: datetime | None = None  # None: now


@dataclass(frozen=True)
class NewItem:
    item_id: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)


def check_build(folder: Path) -> dict[str, Any]:
    """The manifest of a finished recommender build; ArtifactError otherwise."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file() or not (folder / "state.json").is_file():
        raise ArtifactError(f"{folder} is not a finished recommender build (no manifest.json or state.json)",
                            hint="build one with `tunelab recommend build`")
    manifest: dict[str, Any] = read_json(manifest_path)
    if manifest.get("kind") != "recommender":
        raise ArtifactError(f"{folder} is a {manifest.get('kind', 'unknown')!r} folder, not a recommender build")
    return manifest


class RecommenderStore:
    """Registered recommenders, their events and API-added items, in the registry database."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def register(self, path: str | Path, name: str) -> RecommenderVersion:
        """Register a build folder as the next version of `name`."""
        check_name(name, "recommender name")
        folder = Path(path).resolve()
        metrics = check_build(folder).get("evaluation", {})
        for _attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    last = conn.execute(sa.select(sa.func.max(t.recommenders.c.version))
                                        .where(t.recommenders.c.name == name)).scalar()
                    version = int(last or 0) + 1
                    conn.execute(t.recommenders.insert().values(name=name, version=version, path=str(folder),
                                                                metrics=metrics, created_at=now()))
                return self.get(name, version)
            except IntegrityError:
                continue
        raise ConflictError(f"could not register a new version of recommender {name!r}: too many concurrent writes")

    def get(self, name: str, version: int | None = None) -> RecommenderVersion:
        """A version of `name`, the newest when `version` is None."""
        check_name(name, "recommender name")
        query = sa.select(t.recommenders).where(t.recommenders.c.name == name)
        query = query.where(t.recommenders.c.version == version) if version is not None else \
            query.order_by(t.recommenders.c.version.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no recommender {name!r}" + (f" version {version}" if version is not None else ""),
                                hint="register a build with POST /v1/recommenders/{name}/versions")
        return _version(row)

    def versions(self) -> list[RecommenderVersion]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.recommenders).order_by(t.recommenders.c.name,
                                                                   t.recommenders.c.version)).all()
        return [_version(r) for r in rows]

    # ---- events --------------------------------------------------------------------------------------

    def log_events(self, name: str, events: Sequence[Event], key_id: str | None = None) -> int:
        stamp = now()
        rows = [{"recommender": name, "user_id": e.user_id, "item_id": e.item_id, "event": e.event.lower(),
                 "value": e.value, "at": e.at or stamp, "key_id": key_id} for e in events]
        with self.engine.begin() as conn:
            conn.execute(t.recommender_events.insert(), rows)
        return len(rows)

    def events(self, name: str) -> list[Event]:
        """Every logged event of `name`, oldest first."""
        table = t.recommender_events
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.recommender == check_name(name, "recommender name"))
                                .order_by(table.c.at, table.c.id)).all()
        return [Event(r.user_id, r.item_id, r.event, r.value, r.at) for r in rows]

    def export_events(self, name: str, path: Path) -> int:
        """The events as an interaction file (user_id,item_id,timestamp,event,value) a build reads with --events."""
        events = self.events(name)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EVENT_COLUMNS)
        for e in events:
            at = e.at if e.at is None or e.at.tzinfo else e.at.replace(tzinfo=UTC)
            writer.writerow([e.user_id, e.item_id, f"{at.timestamp():.0f}" if at else "", e.event,
                             "" if e.value is None else e.value])
        write_text_atomic(path, buffer.getvalue())
        return len(events)

    # ---- items added through the API -----------------------------------------------------------------

    def save_items(self, name: str, items: Sequence[NewItem]) -> None:
        table = t.recommender_items
        stamp = now()
        with self.engine.begin() as conn:
            for item in items:
                conn.execute(table.delete().where((table.c.recommender == name) & (table.c.item_id == item.item_id)))
                conn.execute(table.insert().values(recommender=name, item_id=item.item_id, text=item.text,
                                                   fields=dict(item.fields), updated_at=stamp))

    def items(self, name: str) -> list[NewItem]:
        table = t.recommender_items
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.recommender == name)
                                .order_by(table.c.updated_at, table.c.item_id)).all()
        return [NewItem(r.item_id, r.text, dict(r.fields)) for r in rows]


def _version(row: Any) -> RecommenderVersion:
    return RecommenderVersion(row.name, int(row.version), row.path, dict(row.metrics or {}), _iso(row.created_at))
