"""The hybrid ranker: a listwise softmax over standardised signals (text, collaborative, popularity, freshness, and
for items nobody liked before the cut a cold-start indicator and their text score again), fitted on the validation
split; each signal's contribution to a score is its weight times its standardised value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIGNALS = ("text", "collaborative", "popularity", "freshness", "cold", "cold text")
START = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # the fit starts from text + collaborative


@dataclass(frozen=True)
class Blender:
    weights: np.ndarray  # (signals,)
    means: np.ndarray
    scales: np.ndarray

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """(..., signals) features -> (..., signals) contributions; their sum is the score."""
        return (features - self.means) / self.scales * self.weights

    def score(self, features: np.ndarray) -> np.ndarray:
        return self.contributions(features).sum(-1)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {name: {"weight": float(w), "mean": float(m), "scale": float(s)}
                for name, w, m, s in zip(SIGNALS, self.weights, self.means, self.scales)}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, float]]) -> Blender:
        neutral = {"weight": 0.0, "mean": 0.0, "scale": 1.0}  # a signal older builds did not have
        rows = [data.get(name, neutral) for name in SIGNALS]
        return cls(*(np.array([r[key] for r in rows], dtype=np.float64) for key in ("weight", "mean", "scale")))


def fit_blender(candidates: list[np.ndarray], iterations: int = 400, lr: float = 0.05, l2: float = 1e-3) -> Blender:
    """Fit on per-user candidate feature arrays (c_u x signals) whose first row is the item the user liked next:
    maximise its softmax probability among the candidates (Adam on the mean negative log-likelihood)."""
    stacked = np.concatenate(candidates)
    spread = stacked.std(0)
    means, scales = stacked.mean(0), np.where(spread > 1e-9, spread + 1e-6, 1.0)  # constant: no effect
    width = max(len(c) for c in candidates)
    features = np.zeros((len(candidates), width, len(SIGNALS)))
    mask = np.zeros((len(candidates), width), dtype=bool)
    for u, c in enumerate(candidates):
        features[u, : len(c)] = (c - means) / scales
        mask[u, : len(c)] = True
    weights = START.copy()
    first, second = np.zeros_like(weights), np.zeros_like(weights)
    for step in range(1, iterations + 1):
        logits = np.where(mask, features @ weights, -np.inf)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        grad = (np.einsum("uc,ucs->s", probs, features) - features[:, 0].sum(0)) / len(candidates) + l2 * weights
        first = 0.9 * first + 0.1 * grad
        second = 0.999 * second + 0.001 * grad**2
        weights -= lr * (first / (1 - 0.9**step)) / (np.sqrt(second / (1 - 0.999**step)) + 1e-8)
    return Blender(weights, means, scales)
