"""Multi-label report (micro/macro/weighted/samples averages) and per-label threshold tuning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.evaluation.scoring import Scores, ScoreTable, TableViews, f1_from_counts, rounded, safe_divide, score_table


@dataclass(frozen=True)
class MultiLabelReport(TableViews):
    """Scores over `labels`; gold labels outside `labels` are ignored (as sklearn's binarizer does)."""

    table: ScoreTable
    samples: Scores
    subset_accuracy: float
    examples: int
    unknown_gold: int

    @property
    def headline(self) -> tuple[str, float]:
        return ("micro_f1", self.table.micro.f1)

    def to_dict(self) -> dict[str, Any]:
        out = self.table.to_dict()
        out["samples"] = self.samples.to_dict()
        out["subset_accuracy"] = rounded(self.subset_accuracy)
        out["examples"] = self.examples
        out["unknown_gold_labels"] = self.unknown_gold
        return out


def binarize(rows: Sequence[set[str]], labels: Sequence[str]) -> np.ndarray:
    """[n, L] 0/1 matrix; names outside `labels` are dropped."""
    index = {name: i for i, name in enumerate(labels)}
    out = np.zeros((len(rows), len(labels)), dtype=np.int64)
    for r, row in enumerate(rows):
        for name in row:
            if name in index:
                out[r, index[name]] = 1
    return out


def _samples_scores(gold: np.ndarray, pred: np.ndarray) -> Scores:
    """Per-example P/R/F1 averaged over examples (sklearn average='samples', zero_division=0)."""
    if gold.shape[0] == 0:
        return Scores(0.0, 0.0, 0.0)
    tp = (gold & pred).sum(axis=1)
    fp = ((1 - gold) & pred).sum(axis=1)
    fn = (gold & (1 - pred)).sum(axis=1)
    precision = safe_divide(tp, tp + fp).mean()
    recall = safe_divide(tp, tp + fn).mean()
    return Scores(float(precision), float(recall), float(f1_from_counts(tp, fp, fn).mean()))


def multilabel_report(gold: Sequence[set[str]], pred: Sequence[set[str]], labels: Sequence[str]) -> MultiLabelReport:
    """sklearn-equivalent multi-label report over `labels` (zero_division=0)."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    labels = list(dict.fromkeys(labels))
    known = set(labels)
    g, p = binarize(gold, labels), binarize(pred, labels)
    tp = (g & p).sum(axis=0)
    fp = ((1 - g) & p).sum(axis=0)
    fn = (g & (1 - p)).sum(axis=0)
    exact = float((g == p).all(axis=1).mean()) if len(gold) else 0.0
    unknown = sum(1 for row in gold for name in row if name not in known)
    return MultiLabelReport(score_table(labels, tp, fp, fn), _samples_scores(g, p), exact, len(gold), unknown)


def _best_threshold(probs: np.ndarray, positives: np.ndarray) -> float:
    """Threshold (predict p >= t) maximising F1 over unique probabilities plus 0.5; ties -> closest to 0.5."""
    n_pos = int(positives.sum())
    if n_pos == 0:
        return 0.5
    order = np.argsort(probs, kind="stable")
    sorted_probs, sorted_pos = probs[order], positives[order]
    candidates = np.union1d(np.unique(probs), [0.5])
    first = np.searchsorted(sorted_probs, candidates, side="left")
    pos_below = np.concatenate([[0], np.cumsum(sorted_pos)])[first]
    tp = n_pos - pos_below
    fp = (len(probs) - first) - tp
    fn = n_pos - tp
    f1 = f1_from_counts(tp, fp, fn)
    best = np.flatnonzero(f1 == f1.max())
    distance = np.abs(candidates[best] - 0.5)
    chosen = float(candidates[best[int(np.argmin(distance))]])
    # An observed probability as the threshold would make decisions at that very score flip on float noise
    # (batched vs single inference differ in the last bits): move it halfway down to the next lower score,
    # which changes no decision on the tuning data.
    lower = sorted_probs[sorted_probs < chosen]
    if chosen in probs and chosen != 0.5:
        chosen = float((chosen + lower[-1]) / 2) if len(lower) else chosen / 2
    return chosen


def tune_thresholds(probs: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per-label decision thresholds [L] maximising each label's F1 on (probs [n, L], gold [n, L] 0/1)."""
    probs = np.asarray(probs, dtype=float)
    gold = np.asarray(gold)
    if probs.ndim != 2 or probs.shape != gold.shape:
        raise ValueError(f"probs {probs.shape} and gold {gold.shape} must both be [n, L]")
    positives = gold > 0.5
    return np.array([_best_threshold(probs[:, j], positives[:, j].astype(np.int64))
                     for j in range(probs.shape[1])], dtype=float)
