"""The monitor's reads and writes over its tables (`tables.py`): configs, items, aggregates, alerts, outbox."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tunelab.apps.monitor import tables as t
from tunelab.apps.monitor.engine import AlertDraft
from tunelab.errors import NotFoundError, UsageError
from tunelab.registry.coordination import MONITORS, bump
from tunelab.registry.locks import hold
from tunelab.registry.names import check_name

MAX_LIMIT = 10_000
_PG_MONITOR_LOCKS = 7_347_002  # advisory lock namespace: (this, crc32 of the monitor's name)
LOCK_TIMEOUT = "30s"  # a batch waits at most this long for another process's batch of the same monitor


def to_time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive datetimes; query parameters may come naive or in another zone)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise UsageError(f"time {value.isoformat()} is out of range") from None


def iso(value: datetime | None) -> str | None:
    value = utc(value)
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ItemRow:
    """One classified item to store, with the (kind, key) pairs it counts for."""

    hash: str
    at: float
    source: str
    text: str
    label: str
    score: float
    negative: bool
    positive: bool
    topic: str | None
    tickers: tuple[str, ...]
    entities: tuple[str, ...]
    keys: tuple[tuple[str, str], ...]


class MonitorStore:
    """Monitor data on the registry's engine (`Store.engine`); every write is one transaction."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    # ---- configs ---------------------------------------------------------------------------------

    def save_config(self, name: str, config: dict[str, Any]) -> None:
        check_name(name, "monitor name")
        stamp = datetime.now(UTC)
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(t.monitors.c.name).where(t.monitors.c.name == name)).first()
            if found is None:
                conn.execute(t.monitors.insert().values(name=name, config=config, created_at=stamp, updated_at=stamp))
            else:
                conn.execute(t.monitors.update().where(t.monitors.c.name == name)
                             .values(config=config, updated_at=stamp))
            bump(conn, MONITORS)  # other processes reload the monitor

    def get_config(self, name: str) -> dict[str, Any]:
        check_name(name, "monitor name")
        with self.engine.connect() as conn:
            config = conn.execute(sa.select(t.monitors.c.config).where(t.monitors.c.name == name)).scalar()
        if config is None:
            raise NotFoundError(f"no monitor named {name!r}",
                                hint="define it with `tunelab monitor create CONFIG.yaml` or PUT /v1/monitors/{name}")
        return dict(config)

    def list_monitors(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.monitors).order_by(t.monitors.c.name)).all()
        return [{"name": r.name, "config": r.config, "created_at": iso(r.created_at),
                 "updated_at": iso(r.updated_at)} for r in rows]

    # ---- one batch at a time across processes -----------------------------------------------------

    @contextmanager
    def exclusive(self, monitor: str) -> Iterator[None]:
        """Hold the monitor across processes: on PostgreSQL a session advisory lock, which the database releases
        by itself if the holder dies; elsewhere (SQLite: one serving process) nothing."""
        with hold(self.engine, _PG_MONITOR_LOCKS, monitor, lock_timeout=LOCK_TIMEOUT):
            yield

    def last_ids(self, monitor: str) -> tuple[int, int]:
        """(newest item id, newest alert id) of the monitor, 0 when none."""
        with self.engine.connect() as conn:
            item = conn.execute(sa.select(sa.func.max(t.monitor_items.c.id))
                                .where(t.monitor_items.c.monitor == monitor)).scalar()
            alert = conn.execute(sa.select(sa.func.max(t.monitor_alerts.c.id))
                                 .where(t.monitor_alerts.c.monitor == monitor)).scalar()
        return int(item or 0), int(alert or 0)

    def items_after(self, monitor: str, item_id: int) -> list[Any]:
        """Items stored after `item_id`, in the order they were written (another process's batches)."""
        c = t.monitor_items.c
        query = sa.select(c.id, c.at, c.negative, c.positive, c.score, c.topic, c.tickers, c.entities).where(
            c.monitor == monitor, c.id > item_id).order_by(c.id)
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def alerts_after(self, monitor: str, alert_id: int) -> list[tuple[int, str, str, str, datetime]]:
        """(id, rule, kind, key, at) of the alerts stored after `alert_id`."""
        c = t.monitor_alerts.c
        query = sa.select(c.id, c.rule, c.kind, c.key, c.at).where(c.monitor == monitor, c.id > alert_id)
        with self.engine.connect() as conn:
            return [(int(r[0]), r[1], r[2], r[3], utc(r[4])) for r in conn.execute(query.order_by(c.id))]

    # ---- items and aggregates --------------------------------------------------------------------

    def existing_hashes(self, monitor: str, hashes: Iterable[str]) -> set[str]:
        wanted = sorted(set(hashes))
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            with self.engine.connect() as conn:
                found.update(conn.execute(sa.select(t.monitor_items.c.hash).where(
                    t.monitor_items.c.monitor == monitor, t.monitor_items.c.hash.in_(part))).scalars())
        return found

    def write_batch(self, monitor: str, window_s: float, items: Sequence[ItemRow], alerts: Sequence[AlertDraft],
                    *, webhook: bool) -> list[int]:
        """Items, their aggregate increments and the alerts they raised, in one transaction; the alert ids."""
        stamp = datetime.now(UTC)
        with self.engine.begin() as conn:
            if items:
                conn.execute(self._insert(conn, t.monitor_items).on_conflict_do_nothing(
                    index_elements=["monitor", "hash"]), [_item_row(monitor, item, stamp) for item in items])
                self._add_aggregates(conn, monitor, window_s, items)
            ids = []
            for alert in alerts:
                row = _alert_row(monitor, alert, stamp, webhook)
                ids.append(int(conn.execute(t.monitor_alerts.insert().values(**row)).inserted_primary_key[0]))
        return ids

    @staticmethod
    def _insert(conn: Any, table: sa.Table) -> Any:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    def _add_aggregates(self, conn: Any, monitor: str, window_s: float, items: Sequence[ItemRow]) -> None:
        sums: dict[tuple[float, str, str], list[float]] = {}
        for item in items:
            start = (item.at // window_s) * window_s
            for kind, key in item.keys:
                acc = sums.setdefault((start, kind, key), [0, 0, 0, 0.0])
                acc[0] += 1
                acc[1] += int(item.negative)
                acc[2] += int(item.positive)
                acc[3] += item.score
        rows = [{"monitor": monitor, "window_s": int(window_s), "window_start": to_time(start), "kind": kind,
                 "key": key, "volume": int(a[0]), "negative": int(a[1]), "positive": int(a[2]), "score_sum": a[3]}
                for (start, kind, key), a in sorted(sums.items())]
        insert = self._insert(conn, t.monitor_aggregates)
        c = t.monitor_aggregates.c
        conn.execute(insert.on_conflict_do_update(
            index_elements=["monitor", "window_s", "window_start", "kind", "key"],
            set_={"volume": c.volume + insert.excluded.volume, "negative": c.negative + insert.excluded.negative,
                  "positive": c.positive + insert.excluded.positive,
                  "score_sum": c.score_sum + insert.excluded.score_sum}), rows)

    def latest_item_time(self, monitor: str, *, until: datetime | None = None) -> datetime | None:
        """The newest item's time (at or before `until` when given)."""
        return self._item_time(sa.func.max, monitor, until)

    def first_item_time(self, monitor: str, *, until: datetime | None = None) -> datetime | None:
        """The oldest item's time (at or before `until` when given): where the monitor's history starts."""
        return self._item_time(sa.func.min, monitor, until)

    def _item_time(self, aggregate: Any, monitor: str, until: datetime | None) -> datetime | None:
        c = t.monitor_items.c
        query = sa.select(aggregate(c.at)).where(c.monitor == monitor)
        if until is not None:
            query = query.where(c.at <= utc(until))
        with self.engine.connect() as conn:
            return utc(conn.execute(query).scalar())

    def items_since(self, monitor: str, since: datetime, *, until: datetime | None = None) -> list[Any]:
        c = t.monitor_items.c
        query = sa.select(c.at, c.negative, c.positive, c.score, c.topic, c.tickers, c.entities).where(
            c.monitor == monitor, c.at >= utc(since))
        if until is not None:
            query = query.where(c.at <= utc(until))
        query = query.order_by(c.at, c.id)
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def list_items(self, monitor: str, *, limit: int = 100) -> list[dict[str, Any]]:
        c = t.monitor_items.c
        query = sa.select(t.monitor_items).where(c.monitor == monitor).order_by(c.at.desc(), c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(_limit(limit))).all()
        return [{**r._asdict(), "at": iso(r.at), "created_at": iso(r.created_at)} for r in rows]

    def list_aggregates(self, monitor: str, *, kind: str | None = None, key: str | None = None,
                        since: datetime | None = None, until: datetime | None = None,
                        limit: int = 1000) -> list[dict[str, Any]]:
        c = t.monitor_aggregates.c
        query = sa.select(t.monitor_aggregates).where(c.monitor == monitor)
        if kind:
            query = query.where(c.kind == kind)
        if key:
            query = query.where(c.key == key)
        if since is not None:
            query = query.where(c.window_start >= utc(since))
        if until is not None:
            query = query.where(c.window_start < utc(until))
        query = query.order_by(c.window_start.desc(), c.kind, c.key).limit(_limit(limit))
        with self.engine.connect() as conn:
            return [_aggregate(r) for r in conn.execute(query)]

    # ---- alerts and the webhook outbox -----------------------------------------------------------

    def last_alerts(self, monitor: str, *, until: datetime | None = None) -> list[tuple[str, str, str, datetime]]:
        c = t.monitor_alerts.c
        query = sa.select(c.rule, c.kind, c.key, sa.func.max(c.at)).where(c.monitor == monitor)
        if until is not None:
            query = query.where(c.at <= utc(until))
        query = query.group_by(c.rule, c.kind, c.key)
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2], utc(r[3])) for r in conn.execute(query)]

    def list_alerts(self, monitor: str | None = None, *, rule: str | None = None, key: str | None = None,
                    status: str | None = None, since: datetime | None = None, until: datetime | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        c = t.monitor_alerts.c
        query = sa.select(t.monitor_alerts)
        for column, value in ((c.monitor, monitor), (c.rule, rule), (c.key, key), (c.status, status)):
            if value:
                query = query.where(column == value)
        if since is not None:
            query = query.where(c.at >= utc(since))
        if until is not None:
            query = query.where(c.at < utc(until))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.at.desc(), c.id.desc()).limit(_limit(limit))).all()
        return [alert_dict(r) for r in rows]

    def get_alert(self, alert_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.monitor_alerts).where(t.monitor_alerts.c.id == alert_id)).first()
            if row is None:
                raise NotFoundError(f"no alert with id {alert_id}")
            tries = conn.execute(sa.select(t.monitor_deliveries).where(t.monitor_deliveries.c.alert_id == alert_id)
                                 .order_by(t.monitor_deliveries.c.id)).all()
        return {**alert_dict(row), "deliveries": [{**d._asdict(), "at": iso(d.at)} for d in tries]}

    def due_alerts(self, now: datetime, limit: int = 100) -> list[Any]:
        c = t.monitor_alerts.c
        query = (sa.select(t.monitor_alerts).where(c.status == "pending", c.next_attempt_at <= now)
                 .order_by(c.next_attempt_at, c.id).limit(limit))
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def claim(self, alert_id: int, seen_next: datetime, lease_until: datetime) -> bool:
        """Take an alert for one delivery attempt (another replica that saw the same row loses the race)."""
        c = t.monitor_alerts.c
        with self.engine.begin() as conn:
            result = conn.execute(t.monitor_alerts.update().where(
                c.id == alert_id, c.status == "pending", c.next_attempt_at == seen_next).values(
                next_attempt_at=lease_until))
        return result.rowcount == 1

    def record_attempt(self, alert_id: int, attempt: int, *, ok: bool, status_code: int | None, error: str | None,
                       next_at: datetime | None) -> None:
        stamp = datetime.now(UTC)
        values: dict[str, Any] = {"attempts": attempt, "last_error": error}
        values.update({"status": "delivered", "delivered_at": stamp, "next_attempt_at": None} if ok
                      else {"next_attempt_at": next_at})
        with self.engine.begin() as conn:
            conn.execute(t.monitor_deliveries.insert().values(alert_id=alert_id, attempt=attempt, at=stamp, ok=ok,
                                                              status_code=status_code, error=error))
            conn.execute(t.monitor_alerts.update().where(t.monitor_alerts.c.id == alert_id).values(**values))


def alert_dict(row: Any) -> dict[str, Any]:
    out = row._asdict()
    for name in ("at", "window_start", "next_attempt_at", "delivered_at", "created_at"):
        out[name] = iso(out[name])
    return out


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


def _aggregate(row: Any) -> dict[str, Any]:
    volume = int(row.volume)
    return {"window_start": iso(row.window_start), "window_s": int(row.window_s), "kind": row.kind,
            "key": row.key, "volume": volume, "negative": int(row.negative), "positive": int(row.positive),
            "negative_share": round(row.negative / volume, 4) if volume else 0.0,
            "mean_score": round(row.score_sum / volume, 4) if volume else 0.0}


def _item_row(monitor: str, item: ItemRow, stamp: datetime) -> dict[str, Any]:
    return {"monitor": monitor, "hash": item.hash, "at": to_time(item.at), "source": item.source, "text": item.text,
            "label": item.label[:128], "score": item.score, "negative": item.negative, "positive": item.positive,
            "topic": item.topic, "tickers": list(item.tickers), "entities": list(item.entities), "created_at": stamp}


def _alert_row(monitor: str, alert: AlertDraft, stamp: datetime, webhook: bool) -> dict[str, Any]:
    return {"monitor": monitor, "rule": alert.rule, "kind": alert.kind, "key": alert.key, "at": to_time(alert.at),
            "window_start": to_time(alert.window_start), "value": float(alert.value), "details": alert.details,
            "message": alert.message, "status": "pending" if webhook else "logged", "attempts": 0,
            "next_attempt_at": stamp if webhook else None, "created_at": stamp}
