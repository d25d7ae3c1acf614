"""Which version answers a request, and the one place that changes it: `ModelAdmin`.

`RouteCache` keeps routing facts (versions, aliases, split) for `ttl` seconds, so changes made through another
replica show up within that time. Every registry write that changes routing (register, promote, rollback,
split) goes through `ModelAdmin`, which invalidates this process's cache itself: no caller has to remember.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

from tunelab.errors import NotFoundError
from tunelab.loop.records import rollback as rollback_promotion
from tunelab.registry import ModelInfo, ModelRef, Store, VersionInfo, choose_version


class RouteCache:
    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._items: dict[str, tuple[float, ModelInfo]] = {}
        self._lock = threading.Lock()

    def model(self, name: str, *, fresh: bool = False) -> ModelInfo:
        stamp = time.monotonic()
        with self._lock:
            hit = self._items.get(name)
        if hit is not None and not fresh and stamp - hit[0] < self.ttl:
            return hit[1]
        info = self.store.get_model(name)
        with self._lock:
            self._items[name] = (stamp, info)
        return info

    def resolve(self, ref: ModelRef, caller: str) -> VersionInfo:
        info = self.model(ref.name)
        try:
            version = choose_version(ref, info, caller)
        except NotFoundError:  # maybe registered through another replica a moment ago
            info = self.model(ref.name, fresh=True)
            version = choose_version(ref, info, caller)
        return next(v for v in info.versions if v.version == version)

    def invalidate(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._items.clear()
            else:
                self._items.pop(name, None)


class ModelAdmin:
    """Registry writes that change routing; each one invalidates the route cache for its model."""

    def __init__(self, store: Store, routes: RouteCache) -> None:
        self.store = store
        self.routes = routes

    def register(self, run: Path, name: str, *, alias: str | None = None, description: str = "",
                 actor: str | None = None) -> VersionInfo:
        try:
            return self.store.register(run, name, alias=alias, description=description, actor=actor)
        finally:
            self.routes.invalidate(name)

    def set_alias(self, name: str, alias: str, version: int, *, actor: str | None = None) -> VersionInfo:
        try:
            return self.store.set_alias(name, alias, version, actor=actor)
        finally:
            self.routes.invalidate(name)

    def rollback(self, name: str, alias: str, *, actor: str | None = None) -> VersionInfo:
        """Move the alias back; a loop promotion it undoes is marked rolled back in the loop's history."""
        try:
            return rollback_promotion(self.store, name, alias, actor=actor or "")[0]
        finally:
            self.routes.invalidate(name)

    def set_split(self, name: str, weights: Mapping[int, float], *, actor: str | None = None) -> dict[int, float]:
        try:
            return self.store.set_split(name, weights, actor=actor or "")
        finally:
            self.routes.invalidate(name)
