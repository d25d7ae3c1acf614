"""A loaded build: recommend for a known user, a few liked items or a free-text query; similar items; add items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.apps.recommender.engine import Contribution, Profile, Ranked, Signals, fold_in, freshness_of
from tunelab.apps.recommender.retrieval import ANN_THRESHOLD, ItemIndex
from tunelab.apps.recommender.state import BuildState
from tunelab.apps.recommender.towers import user_vector
from tunelab.errors import NotFoundError, UsageError


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    text: str
    score: float
    because_of: str | None  # the user's item this one is closest to (None for queries)
    contributions: tuple[Contribution, ...]


class Recommender:
    """Serving-time recommender over a build folder; the encoder loads on first need (queries, new items)."""

    def __init__(self, folder: Path, state: BuildState, ann_threshold: int = ANN_THRESHOLD) -> None:
        self.folder = folder
        self.state = state
        self.signals = Signals(ItemIndex.build(state.vectors, ann_threshold), state.collab_items,
                               state.popularity, state.freshness, state.blender)
        self.item_row = {item: i for i, item in enumerate(state.catalogue.item_ids)}
        self.user_row = {user: i for i, user in enumerate(state.user_ids)}
        self.item_ids = list(state.catalogue.item_ids)
        self.texts = list(state.catalogue.texts)
        self.fields = {k: list(v) for k, v in state.catalogue.fields.items()}
        self._encoder: Any = None
        self.signals.warm()  # a large catalogue's candidate pools are built at load, not by the first request

    @classmethod
    def load(cls, folder: str | Path, ann_threshold: int = ANN_THRESHOLD) -> Recommender:
        return cls(Path(folder), BuildState.load(Path(folder)), ann_threshold)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from tunelab.apps.assistant.index import SentenceEncoder

            self._encoder = SentenceEncoder.load(self.folder / "encoder", max_length=64)
        return self._encoder

    def history(self, user_id: str) -> np.ndarray:
        """The user's liked item rows, oldest first."""
        row = self._user(user_id)
        s = self.state
        mask = (s.users == row) & (s.weights > 0)
        return s.items[mask][np.argsort(s.times[mask], kind="stable")]

    def seen(self, user_id: str) -> np.ndarray:
        return np.unique(self.state.items[self.state.users == self._user(user_id)])

    def for_user(self, user_id: str, k: int = 10, exclude_seen: bool = True,
                 filters: Mapping[str, str] | None = None) -> list[Recommendation]:
        history = self.history(user_id)
        recent = history[-self.state.history:]
        collab = self.state.collab_users[self._user(user_id)] if self._user(user_id) < len(
            self.state.collab_users) else None
        profile = Profile(user_vector(self.signals.index.vectors, recent, self.state.decay), collab, recent)
        return self._rank(profile, k, self.seen(user_id) if exclude_seen else np.zeros(0, int), filters)

    def for_liked(self, item_ids: Sequence[str], k: int = 10, exclude_seen: bool = True,
                  filters: Mapping[str, str] | None = None) -> list[Recommendation]:
        """A new user from a few liked items (oldest first)."""
        if not item_ids:
            raise UsageError("liked_items is empty")
        rows = np.array([self._item(i) for i in item_ids], dtype=np.int64)
        recent = rows[-self.state.history:]
        profile = Profile(user_vector(self.signals.index.vectors, recent, self.state.decay),
                          fold_in(self.signals.collab_items, rows), recent)
        return self._rank(profile, k, rows if exclude_seen else np.zeros(0, int), filters)

    def for_query(self, text: str, k: int = 10, filters: Mapping[str, str] | None = None) -> list[Recommendation]:
        """A new user from a free-text query ("light sci-fi comedy")."""
        if not text.strip():
            raise UsageError("the query is empty")
        vector = self.encoder.embed([text], "query")[0]
        return self._rank(Profile(vector, None, np.zeros(0, dtype=np.int64)), k, np.zeros(0, int), filters)

    def similar(self, item_id: str, k: int = 10, filters: Mapping[str, str] | None = None) -> list[Recommendation]:
        """Items whose text is closest to this one's (fine-tuned vectors)."""
        row = self._item(item_id)
        allowed = self._allowed(np.array([row]), filters)
        rows, scores = self.signals.index.search(self.signals.index.vectors[row], k, allowed)
        return [Recommendation(self.item_ids[r], self.texts[r], round(float(s), 5), item_id,
                               (Contribution("text", round(float(s), 4)),)) for r, s in zip(rows, scores)]

    def add_items(self, items: Sequence[tuple[str, str, Mapping[str, str]]]) -> int:
        """Add or update items (id, text, fields) at once: embedded on arrival, rankable from their text."""
        vectors = self.encoder.embed([text for _, text, _ in items], "passage")
        new_vectors = []
        for (item_id, text, fields), vector in zip(items, vectors):
            if item_id in self.item_row:
                row = self.item_row[item_id]
                self.signals.replace_text(row, vector)
                self.texts[row] = text
            else:
                self.item_row[item_id] = len(self.item_ids)
                self.item_ids.append(item_id)
                self.texts.append(text)
                new_vectors.append(vector)
                for name in set(self.fields) | set(fields):
                    self.fields.setdefault(name, [""] * (len(self.item_ids) - 1)).append("")
            for name, value in fields.items():
                self.fields[name][self.item_row[item_id]] = value
        if new_vectors:
            self._append_signals(np.stack(new_vectors))
        return len(items)

    def _append_signals(self, vectors: np.ndarray) -> None:
        s = self.signals
        s.index.add(vectors)
        factors = np.zeros((len(vectors), s.collab_items.shape[1]), dtype=s.collab_items.dtype)
        s.collab_items = np.vstack([s.collab_items, factors])
        s.popularity = np.concatenate([s.popularity, np.zeros(len(vectors), dtype=s.popularity.dtype)])
        never = freshness_of(np.full(len(vectors), -np.inf), 0.0).astype(s.freshness.dtype)  # as the build's cold items
        s.freshness = np.concatenate([s.freshness, never])
        s.items_added(factors)

    def _rank(self, profile: Profile, k: int, exclude: np.ndarray, filters: Mapping[str, str] | None
              ) -> list[Recommendation]:
        if k < 1:
            raise UsageError("k must be at least 1")
        ranked = self.signals.rank(profile, k, self._allowed(exclude, filters))
        return [self._recommendation(r) for r in ranked]

    def _recommendation(self, ranked: Ranked) -> Recommendation:
        because = self.item_ids[ranked.closest] if ranked.closest is not None else None
        return Recommendation(self.item_ids[ranked.row], self.texts[ranked.row], round(ranked.score, 5), because,
                              ranked.contributions)

    def _allowed(self, exclude: np.ndarray, filters: Mapping[str, str] | None) -> np.ndarray:
        """Rows that may be recommended: not excluded, and matching every filter (a value, or one of a
        `|`-separated list such as MovieLens genres)."""
        allowed = np.ones(len(self.item_ids), dtype=bool)
        allowed[exclude] = False
        for name, wanted in (filters or {}).items():
            if name not in self.fields:
                raise UsageError(f"unknown filter field {name!r}; fields: {', '.join(sorted(self.fields))}")
            allowed &= np.array([wanted.lower() in (v.lower() for v in value.split("|")) or
                                 wanted.lower() == value.lower() for value in self.fields[name]])
        return allowed

    def _user(self, user_id: str) -> int:
        if user_id not in self.user_row:
            raise NotFoundError(f"unknown user {user_id!r}",
                                hint="recommend from liked items or a query for new users")
        return self.user_row[user_id]

    def _item(self, item_id: str) -> int:
        if item_id not in self.item_row:
            raise NotFoundError(f"unknown item {item_id!r}")
        return self.item_row[item_id]
