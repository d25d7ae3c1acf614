"""Score items for a user profile with every signal, blend, and explain: the ranking core of builds and servers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab.apps.recommender.blend import SIGNALS, Blender
from tunelab.apps.recommender.moments import Moments
from tunelab.apps.recommender.retrieval import ItemIndex

CANDIDATES = 300  # per source, when the catalogue is searched approximately


@dataclass(frozen=True)
class Profile:
    """Who we rank for: the user-tower vector, collaborative factors (None: unknown to CF) and the history rows
    (oldest first) that reasons point at."""

    text: np.ndarray
    collaborative: np.ndarray | None
    history: np.ndarray


@dataclass(frozen=True)
class Contribution:
    signal: str
    value: float


@dataclass(frozen=True)
class Ranked:
    """One recommended row, its blended score, the closest history row and each signal's share of the score."""

    row: int
    score: float
    closest: int | None
    contributions: tuple[Contribution, ...]


@dataclass
class Signals:
    """Per-item signals besides the text tower: collaborative item factors, log popularity, freshness; an item of
    popularity 0 is cold, and the blender has its own weights for cold items (an indicator and their text score).
    With a per-user blender, text and collaborative scores are z-scores over the whole catalogue for that user
    (from the vectors' running moments, kept up to date as items are added or replaced)."""

    index: ItemIndex
    collab_items: np.ndarray  # (items, factors); zeros for items CF never saw
    popularity: np.ndarray  # log1p(positives in training)
    freshness: np.ndarray  # -log1p(days between the item's last positive, or arrival, and the build's end)
    blender: Blender
    # Candidate pools of a large (approximate) catalogue, built on first use: the items in order of the blender's
    # user-independent part (popularity and freshness), and an ANN index over the collaborative item factors.
    # So a call costs a few index probes, not passes over every item. `forget_pools` after items change.
    _prior_order: np.ndarray | None = field(default=None, repr=False)
    _collab_index: Any = field(default=None, repr=False)
    _moments: tuple[Moments, Moments] | None = field(default=None, repr=False)

    def forget_pools(self) -> None:
        self._prior_order, self._collab_index = None, None

    def moments(self) -> tuple[Moments, Moments]:
        """Running moments of the text vectors and of the collaborative item factors (computed once)."""
        if self._moments is None:
            self._moments = (Moments.of(self.index.vectors), Moments.of(self.collab_items))
        return self._moments

    def replace_text(self, row: int, vector: np.ndarray) -> None:
        """An item's text changed: its new vector replaces the old in the index and in the moments."""
        if self._moments is not None:
            self._moments[0].remove(self.index.vectors[row])
            self._moments[0].add(vector)
        self.index.replace(row, vector)

    def items_added(self, factors: np.ndarray) -> None:
        """Rows appended to every array (their collaborative `factors`): the order is re-sorted on next use (a
        fraction of a second at 1M items), the factor index takes the new rows as they are."""
        self._prior_order = None
        if self._collab_index is not None:
            self._collab_index.add(factors)
        if self._moments is not None:  # the index already holds the new rows, last
            self._moments[0].add(self.index.vectors[len(self.index.vectors) - len(factors):])
            self._moments[1].add(factors)

    def warm(self) -> None:
        """Build the candidate pools (approximate catalogues) and the per-user standardisation's moments now (at
        load), not on the first request."""
        if self.blender.per_user:
            self.moments()
        if self.index.ann is not None:
            self.prior_order()
            self.collab_index()

    def features(self, profile: Profile, rows: np.ndarray | None = None) -> np.ndarray:
        """(rows, signals) raw features of `rows` (None: every item) for `profile`."""
        vectors = self.index.vectors if rows is None else self.index.vectors[rows]
        text = self._standardised(vectors @ profile.text, profile.text, 0)
        if profile.collaborative is None:
            collab = np.full(len(text), self.blender.means[1])  # unknown to CF: a neutral (mean) signal
        else:
            factors = self.collab_items if rows is None else self.collab_items[rows]
            collab = self._standardised(factors @ profile.collaborative, profile.collaborative, 1)
        pop = self.popularity if rows is None else self.popularity[rows]
        fresh = self.freshness if rows is None else self.freshness[rows]
        cold = (pop == 0).astype(text.dtype)  # nobody liked it before the cut (or it arrived through the API)
        return np.stack([text, collab, pop, fresh, cold, cold * text], axis=-1)

    def _standardised(self, scores: np.ndarray, query: np.ndarray, which: int) -> np.ndarray:
        if not self.blender.per_user:
            return scores
        mean, std = self.moments()[which].mean_std(query)
        return ((scores - mean) / std).astype(scores.dtype)

    def candidates(self, profile: Profile, allowed: np.ndarray) -> np.ndarray | None:
        """Rows worth blending when the index is approximate (text neighbours, CF and prior tops); None: all."""
        if self.index.ann is None:
            return None
        text_rows, _ = self.index.search(profile.text, CANDIDATES, allowed)
        pools = [text_rows, first_allowed(self.prior_order(), allowed, CANDIDATES)]
        if profile.collaborative is not None and np.any(profile.collaborative):
            pools.append(self.collab_index().search(profile.collaborative, CANDIDATES, allowed)[0])
        return np.unique(np.concatenate(pools))

    def prior_order(self) -> np.ndarray:
        """Every row by the blender's popularity and freshness contributions, best first (computed once)."""
        if self._prior_order is None:
            b = self.blender
            prior = (b.weights[2] * (self.popularity - b.means[2]) / b.scales[2]
                     + b.weights[3] * (self.freshness - b.means[3]) / b.scales[3])
            self._prior_order = np.argsort(-prior, kind="stable")
        return self._prior_order

    def collab_index(self) -> ItemIndex:
        """An inner-product ANN index over the collaborative item factors (built once)."""
        if self._collab_index is None:
            self._collab_index = ItemIndex.build(self.collab_items, self.index.threshold, nprobe=self.index.nprobe)
        return self._collab_index

    def rank(self, profile: Profile, k: int, allowed: np.ndarray) -> list[Ranked]:
        """The k best allowed rows for `profile`, each with its reason."""
        rows = self.candidates(profile, allowed)
        features = self.features(profile, rows)
        parts = self.blender.contributions(features)
        scores = parts.sum(-1)
        mask = allowed if rows is None else allowed[rows]
        scores = np.where(mask, scores, -np.inf)
        cold = (self.popularity if rows is None else self.popularity[rows]) == 0
        order = with_cold_slots(scores, cold, k, self.blender.cold_slots)
        return [self._explain(profile, int(i if rows is None else rows[i]), float(scores[i]), parts[i])
                for i in order]

    def _explain(self, profile: Profile, row: int, score: float, parts: np.ndarray) -> Ranked:
        closest = None
        if len(profile.history):
            closest = int(profile.history[np.argmax(self.index.vectors[profile.history] @ self.index.vectors[row])])
        return Ranked(row, score, closest, tuple(Contribution(s, round(float(v), 4)) for s, v in zip(SIGNALS, parts)))


def first_allowed(order: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    """The first `n` rows of `order` that `allowed` lets through, reading only as far as needed."""
    take = max(n, 1)
    while True:
        head = order[:take]
        rows = head[allowed[head]]
        if len(rows) >= n or take >= len(order):
            return rows[:n]
        take *= 4


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """The k highest-scoring rows, best first (ties: lower row first); never rows scored -inf."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return top[np.isfinite(scores[top])]


def with_cold_slots(scores: np.ndarray, cold: np.ndarray, k: int, slots: int) -> np.ndarray:
    """The top k rows, except that at least `slots` of them are cold when any cold row is allowed: the best cold
    rows not already there take the places of the lowest warm ones (at the end of the list)."""
    top = top_rows(scores, k)
    need = min(slots, len(top)) - int(cold[top].sum())
    if need <= 0:
        return top
    pool = np.where(cold, scores, -np.inf)
    pool[top] = -np.inf
    extra = top_rows(pool, need)
    if not len(extra):
        return top
    dropped = np.flatnonzero(~cold[top])[-len(extra):]
    return np.concatenate([np.delete(top, dropped), extra])


def freshness_of(last_seen: np.ndarray, end: float) -> np.ndarray:
    """-log1p(days since the item was last liked); items never liked count as a year old."""
    days = np.where(np.isfinite(last_seen), (end - last_seen) / 86400.0, 365.0)
    return -np.log1p(np.clip(days, 0.0, None))


def fold_in(collab_items: np.ndarray, liked: np.ndarray, regularisation: float = 0.1) -> np.ndarray | None:
    """Collaborative factors of a new user from a few liked items (least squares on their item factors)."""
    factors = collab_items[liked]
    if not len(liked) or not np.any(factors):
        return None
    gram = factors.T @ factors + regularisation * np.eye(factors.shape[1])
    return np.linalg.solve(gram, factors.sum(0)).astype(np.float32)
