"""Named locks that say "someone else has it" at once: a PostgreSQL session advisory lock across processes and
replicas (the database drops it if the holder dies), or a lock in this process on SQLite (one serving process)."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

_LOCAL: dict[tuple[int, str], threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


@contextmanager
def try_hold(engine: Any, namespace: int, name: str) -> Iterator[bool]:
    """Yield True while holding the lock (`namespace`, `name`), False at once when another holder has it."""
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
    key = {"ns": namespace, "k": zlib.crc32(name.encode("utf-8")) - 2**31}
    with engine.connect() as conn:
        acquired = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:ns, :k)"), key).scalar())
        conn.commit()
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, :k)"), key)
                    conn.commit()
                except Exception:
                    conn.invalidate()  # closing the session releases the lock; never pool a connection holding it
                    raise
