"""Single-label classification report: per-class P/R/F1, averages, accuracy and a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.evaluation.scoring import ScoreTable, TableViews, rounded, score_table


@dataclass(frozen=True)
class ClassificationReport(TableViews):
    """Scores over `labels`; accuracy counts every example, including gold labels outside `labels`."""

    table: ScoreTable
    accuracy: float
    examples: int
    confusion_matrix: list[list[int]]

    @property
    def headline(self) -> tuple[str, float]:
        return ("accuracy", self.accuracy)

    def to_dict(self) -> dict[str, Any]:
        out = self.table.to_dict()
        out["accuracy"] = rounded(self.accuracy)
        out["examples"] = self.examples
        out["confusion_matrix"] = [list(row) for row in self.confusion_matrix]
        return out


def confusion_counts(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Rows gold, columns predicted, in `labels` order; pairs with an unknown side are left out."""
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        if g in index and p in index:
            matrix[index[g], index[p]] += 1
    return matrix


def _label_counts(values: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    counts = np.zeros(len(labels), dtype=np.int64)
    for value in values:
        if value in index:
            counts[index[value]] += 1
    return counts


def classification_report(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> ClassificationReport:
    """sklearn-equivalent report restricted to `labels` (zero_division=0); unknown gold labels are misses."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    labels = list(dict.fromkeys(labels))
    index = {name: i for i, name in enumerate(labels)}
    tp = np.zeros(len(labels), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        if g == p and g in index:
            tp[index[g]] += 1
    fp = _label_counts(pred, labels) - tp
    fn = _label_counts(gold, labels) - tp
    correct = sum(1 for g, p in zip(gold, pred, strict=True) if g == p)
    accuracy = correct / len(gold) if gold else 0.0
    matrix = confusion_counts(gold, pred, labels)
    return ClassificationReport(score_table(labels, tp, fp, fn), float(accuracy), len(gold),
                                [[int(x) for x in row] for row in matrix])
