"""Running first and second moments of a catalogue's vectors: the mean and spread of a user's scores over every
item in O(dim^2), so a score can be standardised per user without scoring the whole catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Moments:
    """Count, sum and sum of outer products of the rows added (float64); items can be added and removed."""

    count: int
    total: np.ndarray  # (dim,)
    outer: np.ndarray  # (dim, dim)

    @classmethod
    def of(cls, vectors: np.ndarray, block: int = 65536) -> Moments:
        """The moments of `vectors`, summed a block at a time (a 1M-item catalogue is never copied whole)."""
        moments = cls(0, np.zeros(vectors.shape[1]), np.zeros((vectors.shape[1], vectors.shape[1])))
        for start in range(0, len(vectors), block):
            moments.add(vectors[start:start + block])
        return moments

    def add(self, vectors: np.ndarray, sign: int = 1) -> None:
        rows = np.asarray(vectors, dtype=np.float64).reshape(-1, self.total.shape[0])
        self.count += sign * len(rows)
        self.total += sign * rows.sum(0)
        self.outer += sign * (rows.T @ rows)

    def remove(self, vectors: np.ndarray) -> None:
        self.add(vectors, sign=-1)

    def mean_std(self, query: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of `vectors @ query` over the rows (std 1 when they are all equal)."""
        if self.count <= 0:
            return 0.0, 1.0
        q = np.asarray(query, dtype=np.float64)
        mean = float(self.total @ q) / self.count
        variance = float(q @ self.outer @ q) / self.count - mean**2
        return mean, float(np.sqrt(variance)) if variance > 1e-12 else 1.0
