"""Collaborative and simple baselines scored over the whole catalogue: popularity, item-kNN, EASE, ALS and BPR.

Every baseline is fitted on the users x items matrix of training positives (weights as values) and scores a batch
of its rows. ALS and BPR come from the `implicit` library (binary wheels); nothing here is written by hand that a
library already does well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from tunelab.extras import require


class Scorer(Protocol):
    name: str

    def score(self, rows: np.ndarray) -> np.ndarray:
        """Scores (len(rows) x items) of the given rows of the training matrix."""
        ...


def user_item_matrix(users: np.ndarray, items: np.ndarray, weights: np.ndarray,
                     shape: tuple[int, int]) -> sp.csr_matrix:
    """Users x items, repeated interactions summed."""
    matrix = sp.csr_matrix((weights.astype(np.float32), (users, items)), shape=shape)
    matrix.sum_duplicates()
    return matrix


@dataclass
class Popularity:
    """Items by how many users liked them (the same list for everyone)."""

    counts: np.ndarray
    name: str = "popularity"

    @classmethod
    def fit(cls, matrix: sp.csr_matrix) -> Popularity:
        return cls(np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float32))

    def score(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(rows), 1))


@dataclass
class ItemKNN:
    """Cosine similarity between items' user vectors, the `neighbours` nearest kept; a user's score for an item is
    the summed similarity to the items in their history."""

    history: sp.csr_matrix
    similarity: sp.csr_matrix
    name: str = "item-knn"

    @classmethod
    def fit(cls, matrix: sp.csr_matrix, neighbours: int = 100, block: int = 1024) -> ItemKNN:
        binary = (matrix > 0).astype(np.float32).tocsc()
        norms = np.sqrt(np.asarray(binary.multiply(binary).sum(axis=0)).ravel()) + 1e-9
        normed = (binary @ sp.diags(1.0 / norms)).tocsc().astype(np.float32)
        n = normed.shape[1]
        keep = min(neighbours, max(1, n - 1))
        rows, cols, vals = [], [], []
        for start in range(0, n, block):
            sims = (normed[:, start:start + block].T @ normed).toarray()
            sims[np.arange(sims.shape[0]), np.arange(start, start + sims.shape[0])] = 0.0
            top = np.argpartition(-sims, keep - 1, axis=1)[:, :keep]
            rows.append(np.repeat(np.arange(start, start + sims.shape[0]), keep))
            cols.append(top.ravel())
            vals.append(np.take_along_axis(sims, top, axis=1).ravel())
        similarity = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        return cls((matrix > 0).astype(np.float32).tocsr(), similarity)

    def score(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.history[rows] @ self.similarity).todense(), dtype=np.float32)


@dataclass
class Ease:
    """EASE (Steck 2019): a closed-form item-item linear model, B = -P / diag(P) with P = (X'X + lambda I)^-1,
    over the items that have training interactions; others score 0."""

    history: sp.csr_matrix
    weights: np.ndarray  # (active, active)
    active: np.ndarray  # item indexes the model covers
    n_items: int
    name: str = "ease"

    @classmethod
    def fit(cls, matrix: sp.csr_matrix, regularisation: float = 500.0) -> Ease:
        binary = (matrix > 0).astype(np.float32).tocsr()
        active = np.flatnonzero(np.asarray(binary.sum(axis=0)).ravel() > 0)
        x = binary[:, active]
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += regularisation
        inverse = np.linalg.inv(gram)
        weights = (inverse / -np.diag(inverse)).astype(np.float32)
        np.fill_diagonal(weights, 0.0)
        return cls(x, weights, active, matrix.shape[1])

    def score(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), self.n_items), dtype=np.float32)
        out[:, self.active] = self.history[rows] @ self.weights
        return out


@dataclass
class Factors:
    """User and item factors from `implicit` (ALS or BPR); a score is their dot product."""

    users: np.ndarray
    items: np.ndarray
    name: str

    @classmethod
    def fit_als(cls, matrix: sp.csr_matrix, factors: int = 64, iterations: int = 15, seed: int = 0) -> Factors:
        implicit_als = require("implicit.als", "the ALS baseline")
        model = implicit_als.AlternatingLeastSquares(factors=factors, regularization=0.05, alpha=10.0,
                                                     iterations=iterations, random_state=seed)
        model.fit(matrix.astype(np.float32), show_progress=False)
        return cls(np.asarray(model.user_factors), np.asarray(model.item_factors), "als")

    @classmethod
    def fit_bpr(cls, matrix: sp.csr_matrix, factors: int = 64, iterations: int = 100, seed: int = 0) -> Factors:
        implicit_bpr = require("implicit.bpr", "the BPR baseline")
        model = implicit_bpr.BayesianPersonalizedRanking(factors=factors, learning_rate=0.05, regularization=0.01,
                                                         iterations=iterations, random_state=seed)
        model.fit((matrix > 0).astype(np.float32), show_progress=False)
        return cls(np.asarray(model.user_factors), np.asarray(model.item_factors), "bpr")

    def score(self, rows: np.ndarray) -> np.ndarray:
        return self.users[rows] @ self.items.T


def fit_baselines(matrix: sp.csr_matrix, seed: int = 0, ease_max_items: int = 20000) -> list[Scorer]:
    """Every baseline fitted on `matrix`; EASE is left out above `ease_max_items` active items (dense inverse)."""
    fitted: list[Scorer] = [Popularity.fit(matrix), ItemKNN.fit(matrix)]
    if int((np.asarray(matrix.sum(axis=0)).ravel() > 0).sum()) <= ease_max_items:
        fitted.append(Ease.fit(matrix))
    fitted += [Factors.fit_als(matrix, seed=seed), Factors.fit_bpr(matrix, seed=seed)]
    return fitted
