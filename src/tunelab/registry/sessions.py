"""Dashboard sessions in the database: opened at login, checked on every page, ended by logout or expiry, and
ended with the key they belong to. Only a hash of the session id is stored."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import sqlalchemy as sa

from tunelab.registry import schema as t
from tunelab.registry.store import Store, now


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


class Sessions:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def open(self, sid: str, key_id: str, ttl_s: float) -> None:
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(t.sessions.delete().where(t.sessions.c.expires_at < stamp))  # tidy as we go
            conn.execute(t.sessions.insert().values(id_hash=_hash(sid), key_id=key_id, created_at=stamp,
                                                    expires_at=stamp + timedelta(seconds=ttl_s)))

    def key_of(self, sid: str) -> str | None:
        """The key id of a live session, or None (never opened, logged out, expired)."""
        query = sa.select(t.sessions.c.key_id).where(t.sessions.c.id_hash == _hash(sid),
                                                     t.sessions.c.expires_at > now())
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def close(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.sessions.delete().where(t.sessions.c.id_hash == _hash(sid)))
