"""API-key authentication, scopes, per-key rate limits and usage counters.

Keys arrive as `Authorization: Bearer tl_<id>_<secret>` (or `X-API-Key`). The lookup by id is cached for
`key_cache_s` seconds; the secret is checked against the stored SHA-256 in constant time. Nothing here
ever logs a key. Usage counters add up in memory and are flushed to the database every few seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tunelab.errors import AuthError, ForbiddenError, RateLimitError
from tunelab.registry import Store
from tunelab.registry import keys as keylib
from tunelab.serving.ratelimit import RateLimiter


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id and name (None without auth) and its scopes."""

    key_id: str | None
    key_name: str
    scopes: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.key_name or "anonymous"


LOCAL = Caller(None, "local", ("admin",))


def is_admin(caller: Caller) -> bool:
    """The caller's key has the admin scope (or authentication is off: everyone is the local admin)."""
    return keylib.has_scope(caller.scopes, "admin")


class Authenticator:
    def __init__(self, store: Store, *, enabled: bool, rate_per_s: float, burst: int, cache_s: float,
                 limiter: Any = None) -> None:
        self.store = store
        self.enabled = enabled
        self.cache_s = cache_s
        self.limiter = limiter or RateLimiter(rate_per_s, burst)  # serving.replicas.SharedRateLimiter on PostgreSQL
        self._cache: dict[str, tuple[float, Any]] = {}
        self._generation = 0  # bumped by forget_all: a lookup that raced with it is not cached
        self._lock = threading.Lock()

    def authenticate(self, headers: Any, scope: str, identified: Any = None) -> Caller:
        """The caller behind the request's key, checked for `scope` and the key's rate limit.
        `identified(caller)` is called as soon as the key is known, before the scope and rate checks,
        so refusals are counted against the right key."""
        if not self.enabled:
            return LOCAL
        token = _token(headers)
        key_id, secret = keylib.split_token(token)
        info = self._lookup(key_id)
        if info is None or info.revoked_at is not None or not keylib.matches(secret, info.hash):
            raise AuthError("unknown or revoked API key")
        caller = Caller(info.id, info.name, info.scopes)
        if identified is not None:
            identified(caller)
        if not keylib.has_scope(info.scopes, scope):
            raise ForbiddenError(f"this API key lacks the {scope!r} scope",
                                 hint=f"its scopes: {', '.join(info.scopes)}")
        rate, burst = info.rate_per_s, info.burst
        if rate is not None and rate > 0 and burst is None:
            burst = max(1, math.ceil(2 * rate))  # a key's own rate without its own burst: two seconds' worth
        wait = self.limiter.acquire(info.id, 1.0, rate=rate, burst=burst if rate is not None else None)
        if wait > 0:
            raise RateLimitError(f"rate limit exceeded for key {info.name!r}", retry_after=round(wait, 3))
        return caller

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    def forget_all(self) -> None:
        """Drop every cached key (keys were created or revoked through another process)."""
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def _lookup(self, key_id: str) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key_id)
            generation = self._generation
        if hit is not None and now - hit[0] < self.cache_s:
            return hit[1]
        info = self.store.key_by_id(key_id)
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            if generation == self._generation:
                self._cache[key_id] = (now, info)
        return info


def _token(headers: Any) -> str:
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        raise AuthError("the Authorization header must be `Bearer <key>`")
    value = headers.get("x-api-key")
    if value:
        return value.strip()
    raise AuthError("an API key is required", hint="send `Authorization: Bearer <key>`; create one with "
                    "`tunelab keys create --name NAME --scopes predict`")


class UsageMeter:
    """Per-key counters (requests, texts, tokens, errors), flushed to the store in one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._lock = threading.Lock()

    def add(self, key_id: str | None, **counts: int) -> None:
        if key_id is None:
            return
        with self._lock:
            row = self._pending[key_id]
            for name, value in counts.items():
                row[name] += int(value)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, defaultdict(lambda: defaultdict(int))
        if not batch:
            return
        try:
            self.store.add_usage({k: dict(v) for k, v in batch.items()})
        except Exception:
            with self._lock:  # put the counts back: they go out with the next flush
                for key_id, counts in batch.items():
                    for name, value in counts.items():
                        self._pending[key_id][name] += value
            raise
