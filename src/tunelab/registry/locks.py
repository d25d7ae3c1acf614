"""Named locks across processes: PostgreSQL session advisory locks (the database drops one if its holder dies), and
on SQLite (one serving process) a lock in this process or none.

`hold` waits for the lock; `try_hold` says at once whether it got it."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

_LOCAL: dict[tuple[int, str], threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def _key(namespace: int, name: str) -> dict[str, int]:
    return {"ns": namespace, "k": zlib.crc32(name.encode("utf-8")) - 2**31}


@contextmanager
def hold(engine: Any, namespace: int, name: str, *, lock_timeout: str = "30s") -> Iterator[None]:
    """Hold the lock (`namespace`, `name`) across processes on PostgreSQL, waiting at most `lock_timeout` for it
    (then the database raises); elsewhere nothing."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT set_config('lock_timeout', :t, true)"), {"t": lock_timeout})
        conn.execute(sa.text("SELECT pg_advisory_lock(:ns, :k)"), _key(namespace, name))
        conn.commit()
        try:
            yield
        finally:
            _release(conn, namespace, name)


@contextmanager
def try_hold(engine: Any, namespace: int, name: str) -> Iterator[bool]:
    """Yield True while holding the lock (`namespace`, `name`), False at once when another holder has it (on
    SQLite: another thread of this process)."""
    if engine.dialect.name != "postgresql":
        with _LOCAL_GUARD:
            lock = _LOCAL.setdefault((namespace, name), threading.Lock())
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
        return
    with engine.connect() as conn:
        acquired = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:ns, :k)"), _key(namespace, name)).scalar())
        conn.commit()
        try:
            yield acquired
        finally:
            if acquired:
                _release(conn, namespace, name)


def _release(conn: Any, namespace: int, name: str) -> None:
    try:
        conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, :k)"), _key(namespace, name))
        conn.commit()
    except Exception:
        conn.invalidate()  # closing the session releases the lock; never pool a connection holding it
        raise
