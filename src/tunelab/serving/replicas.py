"""What one server process does so that several (workers, replicas) on one PostgreSQL registry act as one service.

    SharedRateLimiter  per-key token buckets kept by PostgreSQL (`registry.coordination.take_tokens`): one atomic
                       upsert per request; on SQLite (one process) the in-process `RateLimiter` is used instead
    ChangeWatcher      polls the registry's change counters every `CHANGE_POLL_S` and drops this process's caches of
                       a topic another process changed: API keys (a revoked key is refused everywhere within about
                       one poll), routing (a promotion or split is served everywhere), monitor configs

The choice is made once, from the store's dialect, in `build_limiter`; the watcher runs in every process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tunelab.registry import Store
from tunelab.registry.coordination import bucket_engine, read_counters, take_tokens
from tunelab.serving.ratelimit import RateLimiter

log = logging.getLogger("tunelab.serve")
CHANGE_POLL_S = 0.5  # how often each process reads the change counters


class Limiter(Protocol):
    def acquire(self, key: str, cost: float = 1.0, rate: float | None = None,
                burst: float | None = None) -> float: ...

    def close(self) -> None: ...


class SharedRateLimiter:
    """The `RateLimiter` interface over PostgreSQL buckets: the defaults and checks are the local limiter's, the
    tokens live in the database, so every replica draws from the same bucket."""

    def __init__(self, engine: Any, rate_per_s: float, burst: int) -> None:
        self.engine = bucket_engine(engine.url)  # its own pool: autocommit, one round trip per request
        self.defaults = RateLimiter(rate_per_s, burst)  # checks values and resolves per-key overrides; holds nothing

    def acquire(self, key: str, cost: float = 1.0, rate: float | None = None, burst: float | None = None) -> float:
        limits = self.defaults.limits_for(cost, rate, burst)
        if limits is None:
            return 0.0
        return take_tokens(self.engine, key, cost, *limits)

    def close(self) -> None:
        self.engine.dispose()


def build_limiter(store: Store, rate_per_s: float, burst: int) -> Limiter:
    """Shared buckets on PostgreSQL (several processes may serve), in-process ones on SQLite (one process)."""
    if store.dialect == "postgresql":
        return SharedRateLimiter(store.engine, rate_per_s, burst)
    return RateLimiter(rate_per_s, burst)


class ChangeWatcher:
    """`poll()` reads the counters and calls `handlers[topic]()` for each topic whose counter moved since the last
    poll (the first poll only records them). Run it every `CHANGE_POLL_S` on a worker thread."""

    def __init__(self, engine: Any, handlers: Mapping[str, Callable[[], None]]) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.seen: dict[str, int] | None = None
        self.failing = False  # the counters could not be read on the last poll (logged once per outage)

    def poll(self) -> list[str]:
        """The topics that changed (their handlers have run). While the database cannot be read, nothing changes
        here: the caches fall back on their own expiry (`key_cache_s`, `registry_cache_s`)."""
        try:
            counters = read_counters(self.engine)
        except Exception as error:  # noqa: BLE001 - a database outage must not flood the log twice a second
            if not self.failing:
                log.warning("cannot read the change counters (%s): caches expire on their own until it can",
                            type(error).__name__)
            self.failing = True
            return []
        if self.failing:
            log.info("change counters readable again")
            self.failing = False
        changed = [] if self.seen is None else [t for t in self.handlers if counters.get(t) != self.seen.get(t)]
        self.seen = counters
        for topic in changed:
            self.handlers[topic]()
        if changed:
            log.debug("changed through another process: %s", ", ".join(changed))
        return changed
