"""Precision/recall/F1 from per-class counts, with sklearn semantics (zero_division=0)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DECIMALS = 6


def rounded(value: float) -> float:
    """A float rounded for JSON output."""
    return round(float(value), DECIMALS)


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise division that yields 0 where the denominator is 0."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    out = np.zeros_like(num, dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of an average (micro, macro, weighted or samples)."""

    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict[str, float]:
        return {"precision": rounded(self.precision), "recall": rounded(self.recall), "f1": rounded(self.f1)}


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall, F1 and gold support of one class or entity type."""

    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, Any]:
        return {"precision": rounded(self.precision), "recall": rounded(self.recall), "f1": rounded(self.f1),
                "support": int(self.support)}


@dataclass(frozen=True)
class ScoreTable:
    """Per-class scores plus the micro, macro and support-weighted averages."""

    labels: tuple[str, ...]
    per_class: Mapping[str, ClassScores]
    micro: Scores
    macro: Scores
    weighted: Scores

    @property
    def total_support(self) -> int:
        return int(sum(s.support for s in self.per_class.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels),
                "per_class": {name: self.per_class[name].to_dict() for name in self.labels},
                "micro": self.micro.to_dict(), "macro": self.macro.to_dict(),
                "weighted": self.weighted.to_dict(), "total_support": self.total_support}


class TableViews:
    """Shortcuts from a report to the `ScoreTable` it holds in its `table` field."""

    table: ScoreTable

    @property
    def labels(self) -> tuple[str, ...]:
        return self.table.labels

    @property
    def per_class(self) -> Mapping[str, ClassScores]:
        return self.table.per_class

    @property
    def micro(self) -> Scores:
        return self.table.micro

    @property
    def macro(self) -> Scores:
        return self.table.macro

    @property
    def weighted(self) -> Scores:
        return self.table.weighted


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2tp / (2tp + fp + fn), 0 where undefined (sklearn >= 1.3 semantics)."""
    tp = np.asarray(tp, dtype=float)
    return safe_divide(2 * tp, 2 * tp + np.asarray(fp, dtype=float) + np.asarray(fn, dtype=float))


def _average(values: np.ndarray, weights: np.ndarray | None) -> float:
    if values.size == 0:
        return 0.0
    if weights is None:
        return float(values.mean())
    total = float(weights.sum())
    return float((values * weights).sum() / total) if total > 0 else 0.0


def score_table(labels: Sequence[str], tp: Sequence[int], fp: Sequence[int], fn: Sequence[int]) -> ScoreTable:
    """Build a ScoreTable from true-positive, false-positive and false-negative counts per label."""
    tp_a, fp_a, fn_a = (np.asarray(x, dtype=np.int64).reshape(-1) for x in (tp, fp, fn))
    support = tp_a + fn_a
    precision = safe_divide(tp_a, tp_a + fp_a)
    recall = safe_divide(tp_a, support)
    f1 = f1_from_counts(tp_a, fp_a, fn_a)
    per_class = {name: ClassScores(float(p), float(r), float(f), int(s))
                 for name, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)}
    t, p_, n_ = int(tp_a.sum()), int(fp_a.sum()), int(fn_a.sum())
    micro = Scores(float(safe_divide(t, t + p_)), float(safe_divide(t, t + n_)),
                   float(f1_from_counts(t, p_, n_)))
    macro = Scores(_average(precision, None), _average(recall, None), _average(f1, None))
    weights = support.astype(float)
    weighted = Scores(_average(precision, weights), _average(recall, weights), _average(f1, weights))
    return ScoreTable(tuple(labels), per_class, micro, macro, weighted)
