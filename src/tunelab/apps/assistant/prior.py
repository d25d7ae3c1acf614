"""How well a score separates out-of-scope questions (AUROC, AUPRC, FPR at 95% recall), and the out-of-scope
share of unlabelled traffic estimated from its scores (EM on a two-part mixture whose parts are the calibration
split's in-scope and out-of-scope score histograms)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from tunelab.errors import UsageError


@dataclass(frozen=True)
class Separation:
    auroc: float
    auprc: float  # average precision with out-of-scope as the positive class
    fpr_at_95: float  # share of in-scope questions flagged when 95% of the out-of-scope ones are

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def separation(scores: np.ndarray, is_oos: np.ndarray) -> Separation:
    """Detection metrics of `scores` (higher = more likely out of scope) against the truth `is_oos`."""
    y = np.asarray(is_oos, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise UsageError("detection metrics need both in-scope and out-of-scope questions")
    ranks = _average_ranks(s)
    auroc = (ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(y[order])
    precision_at = hits / np.arange(1, len(s) + 1)
    auprc = float(precision_at[y[order]].sum() / n_pos)
    cut = np.quantile(s[y], 0.05, method="lower")
    return Separation(float(auroc), auprc, float((s[~y] >= cut).mean()))


def _average_ranks(s: np.ndarray) -> np.ndarray:
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s), dtype=np.float64)
    ranks[order] = np.arange(1, len(s) + 1)
    values, inverse = np.unique(s, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=len(values))
    counts = np.bincount(inverse, minlength=len(values))
    return (sums / counts)[inverse]


def estimate_oos_share(traffic: np.ndarray, in_scope: np.ndarray, out_of_scope: np.ndarray, bins: int = 20,
                       steps: int = 500) -> float:
    """The share of out-of-scope questions among `traffic` scores, from the in-scope and out-of-scope
    calibration scores of the same score: EM on the mixture weight of the two (smoothed) histograms."""
    traffic, in_scope, out_of_scope = (np.asarray(a, dtype=np.float64) for a in (traffic, in_scope, out_of_scope))
    if not len(traffic) or not len(in_scope) or not len(out_of_scope):
        raise UsageError("estimating the out-of-scope share needs traffic scores and both calibration groups")
    edges = np.unique(np.quantile(np.concatenate([in_scope, out_of_scope]), np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    f_in = _density(in_scope, edges)
    f_out = _density(out_of_scope, edges)
    cell = _cells(traffic, edges)
    a, b = f_out[cell], f_in[cell]
    share = 0.5
    for _ in range(steps):
        new = float(np.mean(share * a / (share * a + (1 - share) * b)))
        if abs(new - share) < 1e-7:
            return new
        share = new
    return share


def _cells(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def _density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(_cells(values, edges), minlength=len(edges) - 1).astype(np.float64)
    return (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
