"""Nearest items by inner product: exact below a catalogue size threshold, a faiss IVF index above it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab.extras import require

ANN_THRESHOLD = 50_000  # items; below it exact search is fast enough and always right


@dataclass
class ItemIndex:
    """Unit item vectors; `ann` is a faiss index over them when the catalogue is large."""

    vectors: np.ndarray
    ann: Any = None
    nprobe: int = 16
    threshold: int = ANN_THRESHOLD
    pending: list[int] = field(default_factory=list)  # rows added since the ANN index was built

    @classmethod
    def build(cls, vectors: np.ndarray, threshold: int = ANN_THRESHOLD, nlist: int | None = None,
              nprobe: int = 16, seed: int = 0) -> ItemIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = cls(vectors, None, nprobe, threshold)
        if len(vectors) >= threshold:
            index.ann = build_ivf(vectors, nlist or int(4 * np.sqrt(len(vectors))), nprobe, seed)
        return index

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Append items (their rows are returned); an ANN index gets them at once, so they are searchable."""
        start = len(self.vectors)
        self.vectors = np.vstack([self.vectors, np.asarray(vectors, dtype=np.float32)])
        if self.ann is not None:
            self.ann.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return np.arange(start, len(self.vectors))

    def replace(self, row: int, vector: np.ndarray) -> None:
        """Update one item's vector (exact search sees it; the ANN index is rebuilt lazily by the caller)."""
        self.vectors[row] = vector

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows (and scores) for one query among `allowed` rows (a bool mask; None: all)."""
        k = min(k, len(self.vectors) if allowed is None else int(allowed.sum()))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.ann is not None:
            found = self._search_ann(query, k, allowed)
            if found is not None:
                return found
        scores = self.vectors @ query
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), scores[top].astype(np.float32)

    def _search_ann(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray,
                                                                                          np.ndarray] | None:
        """Over-fetch from the IVF index and drop rows not allowed; None when too few are left (use exact)."""
        blocked = 0 if allowed is None else len(allowed) - int(allowed.sum())
        fetch = min(len(self.vectors), 2 * k + blocked if blocked < 10 * k else 4 * k)
        self.ann.nprobe = self.nprobe
        scores, rows = self.ann.search(np.ascontiguousarray(query[None, :], dtype=np.float32), fetch)
        keep = rows[0] >= 0
        rows, scores = rows[0][keep], scores[0][keep]
        if allowed is not None:
            ok = allowed[rows]
            rows, scores = rows[ok], scores[ok]
        return (rows[:k].astype(np.int64), scores[:k]) if len(rows) >= k else None


def build_ivf(vectors: np.ndarray, nlist: int, nprobe: int, seed: int) -> Any:
    """An inner-product IVF-Flat index trained on a sample of at most 64 vectors per list."""
    faiss = require("faiss", "the approximate nearest-neighbour index")
    dim = vectors.shape[1]
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(seed).choice(len(vectors), min(len(vectors), 64 * nlist), replace=False)
    index.train(np.ascontiguousarray(vectors[sample]))
    index.add(vectors)
    index.nprobe = nprobe
    return index
