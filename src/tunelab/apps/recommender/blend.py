"""The hybrid ranker: a logistic regression (scikit-learn) over each signal standardised per user (text,
collaborative), popularity, freshness, a cold-start indicator and the cold items' text score, fitted on the
validation split; each signal's contribution to a score is its weight times its standardised value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SIGNALS = ("text", "collaborative", "popularity", "freshness", "cold", "cold text")
SINGLE = ("text", "collaborative", "popularity")  # the signals that rank on their own (the fallbacks)


@dataclass(frozen=True)
class Blender:
    """Linear weights over standardised signals. `per_user`: text and collaborative scores enter as z-scores over
    the user's whole catalogue (so one weight fits light and heavy users; builds before it used raw scores).
    `cold_slots`: the last slots of every top k go to the best-scored cold items (items nobody liked yet)."""

    weights: np.ndarray  # (signals,)
    means: np.ndarray
    scales: np.ndarray
    per_user: bool = True
    cold_slots: int = 0

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """(..., signals) features -> (..., signals) contributions; their sum is the score."""
        return (features - self.means) / self.scales * self.weights

    def score(self, features: np.ndarray) -> np.ndarray:
        return self.contributions(features).sum(-1)

    def with_slots(self, cold_slots: int) -> Blender:
        return Blender(self.weights, self.means, self.scales, self.per_user, cold_slots)

    def to_dict(self) -> dict[str, Any]:
        signals = {name: {"weight": float(w), "mean": float(m), "scale": float(s)}
                   for name, w, m, s in zip(SIGNALS, self.weights, self.means, self.scales)}
        return {"signals": signals, "per_user": self.per_user, "cold_slots": self.cold_slots}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Blender:
        """Read `to_dict`'s form, or older builds' bare {signal: {weight, mean, scale}} (raw scores, no slots)."""
        signals = data.get("signals", data)
        neutral = {"weight": 0.0, "mean": 0.0, "scale": 1.0}  # a signal older builds did not have
        rows = [signals.get(name, neutral) for name in SIGNALS]
        weights, means, scales = (np.array([r[key] for r in rows], dtype=np.float64) for key in ("weight", "mean",
                                                                                               "scale"))
        return cls(weights, means, scales, bool(data.get("per_user", False)), int(data.get("cold_slots", 0)))

    @classmethod
    def single(cls, signal: str, per_user: bool = True) -> Blender:
        """Rank by one signal alone."""
        weights = np.array([1.0 if name == signal else 0.0 for name in SIGNALS])
        return cls(weights, np.zeros(len(SIGNALS)), np.ones(len(SIGNALS)), per_user)

    @classmethod
    def neutral(cls) -> Blender:
        """Every weight 1, nothing shifted: the placeholder that features are computed under before a fit."""
        return cls(np.ones(len(SIGNALS)), np.zeros(len(SIGNALS)), np.ones(len(SIGNALS)))


def fit_blender(candidates: list[np.ndarray], regularisation: float = 0.1, seed: int = 0) -> Blender:
    """Fit on per-user candidate feature arrays (c_u x signals) whose first row is the item the user liked next and
    whose other rows are items the user did not: a logistic regression (L2, `regularisation` is sklearn's C) on the
    standardised features; its coefficients are the weights."""
    from sklearn import linear_model

    stacked = np.concatenate(candidates)
    labels = np.concatenate([np.arange(len(c)) == 0 for c in candidates])
    spread = stacked.std(0)
    means, scales = stacked.mean(0), np.where(spread > 1e-9, spread, 1.0)  # a constant signal gets no weight
    model = linear_model.LogisticRegression(C=regularisation, max_iter=1000, random_state=seed)
    model.fit((stacked - means) / scales, labels)
    return Blender(np.asarray(model.coef_[0], dtype=np.float64), means, scales)
