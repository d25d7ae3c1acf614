"""The server's recommenders: registered versions loaded on first use under an LRU cap, API items laid over them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tunelab.apps.recommender.recommender import Recommendation, Recommender
from tunelab.apps.recommender.registry import Event, NewItem, RecommenderStore, RecommenderVersion
from tunelab.errors import NotFoundError
from tunelab.registry import Store

Loader = Callable[[Path], Recommender]


@dataclass
class Loaded:
    """A version in memory; `lock` serialises its use, as adding items replaces its arrays."""

    version: RecommenderVersion
    recommender: Recommender
    lock: threading.Lock


@dataclass(frozen=True)
class Query:
    """One recommend request: exactly one of user_id, liked_items, query."""

    user_id: str | None = None
    liked_items: tuple[str, ...] = ()
    query: str | None = None
    k: int = 10
    exclude_seen: bool = True
    filters: Mapping[str, str] | None = None


class RecommenderHub:
    def __init__(self, store: Store, capacity: int = 4, loader: Loader = Recommender.load) -> None:
        self.registry = RecommenderStore(store)
        self.capacity = max(1, capacity)
        self.loader = loader
        self._loaded: OrderedDict[tuple[str, int], Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, name: str, version: int | None = None) -> Loaded:
        """A version of `name` (the newest when None), loaded with the name's API items on first use."""
        found = self.registry.get(name, version)
        key = (found.name, found.version)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        recommender = self.loader(Path(found.path))
        added = self.registry.items(name)
        if added:
            recommender.add_items([(i.item_id, i.text, i.fields) for i in added])
        loaded = Loaded(found, recommender, threading.Lock())
        with self._lock:
            loaded = self._loaded.setdefault(key, loaded)
            self._loaded.move_to_end(key)
            while len(self._loaded) > self.capacity:
                self._loaded.popitem(last=False)
        return loaded

    def recommend(self, name: str, query: Query, version: int | None = None) -> tuple[RecommenderVersion,
                                                                                       list[Recommendation]]:
        loaded = self.load(name, version)
        r = loaded.recommender
        with loaded.lock:
            if query.user_id is not None:
                found = r.for_user(query.user_id, query.k, query.exclude_seen, query.filters)
            elif query.liked_items:
                found = r.for_liked(query.liked_items, query.k, query.exclude_seen, query.filters)
            else:
                found = r.for_query(query.query or "", query.k, query.filters)
        return loaded.version, found

    def similar(self, name: str, item_id: str, k: int, filters: Mapping[str, str] | None = None,
                version: int | None = None) -> tuple[RecommenderVersion, list[Recommendation]]:
        loaded = self.load(name, version)
        with loaded.lock:
            return loaded.version, loaded.recommender.similar(item_id, k, filters)

    def log_events(self, name: str, events: Sequence[Event], key_id: str | None = None) -> int:
        """Log events on items the newest version knows (catalogue or API items); users may be new."""
        loaded = self.load(name)
        unknown = sorted({e.item_id for e in events} - set(loaded.recommender.item_row))
        if unknown:
            raise NotFoundError(f"unknown item(s) in events: {', '.join(map(repr, unknown[:10]))}",
                                hint="add items with PUT /v1/recommenders/{name}/items first")
        return self.registry.log_events(name, events, key_id)

    def put_items(self, name: str, items: Sequence[NewItem]) -> tuple[int, int]:
        """Add or update items: saved for every version of `name`, embedded at once in the loaded ones.
        Returns (added, updated) as seen by the newest version."""
        newest = self.load(name)
        known = newest.recommender.item_row
        updated = sum(1 for i in items if i.item_id in known)
        self.registry.save_items(name, items)
        with self._lock:
            same_name = [v for (n, _), v in self._loaded.items() if n == name]
        for loaded in same_name:
            with loaded.lock:
                loaded.recommender.add_items([(i.item_id, i.text, i.fields) for i in items])
        return len(items) - updated, updated
