"""Two-sample statistics for drift: RBF-kernel MMD with a permutation p-value, KS, a one-sided proportion test, PSI."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Outcome:
    """A statistic and its p-value (None where the test gives none)."""

    statistic: float
    p_value: float | None


def mmd_test(x: np.ndarray, y: np.ndarray, *, permutations: int = 200, seed: int = 0) -> Outcome:
    """Squared maximum mean discrepancy between the rows of `x` and `y` with a Gaussian kernel whose bandwidth is
    the median pairwise squared distance of the pooled rows (the median heuristic); the p-value is the share of
    label permutations with a statistic at least as large (plus one, so it is never 0)."""
    pooled = np.concatenate([x, y]).astype(np.float64)
    squared = (pooled * pooled).sum(1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2 * pooled @ pooled.T, 0.0)
    upper = distances[np.triu_indices(len(pooled), k=1)]
    bandwidth = float(np.median(upper[upper > 0])) if np.any(upper > 0) else 1.0
    kernel = np.exp(-distances / bandwidth)
    observed = _mmd(kernel, np.arange(len(x)), len(pooled))
    rng = np.random.default_rng(seed)
    hits = sum(_mmd(kernel, rng.permutation(len(pooled))[:len(x)], len(pooled)) >= observed
               for _ in range(permutations))
    return Outcome(observed, (1 + hits) / (1 + permutations))


def _mmd(kernel: np.ndarray, first: np.ndarray, total: int) -> float:
    """Biased MMD^2 = w^T K w with w = 1/n on the first sample's rows and -1/m on the rest."""
    n = len(first)
    weights = np.full(total, -1.0 / (total - n))
    weights[first] = 1.0 / n
    return float(weights @ kernel @ weights)


def ks_test(reference: np.ndarray, window: np.ndarray) -> Outcome:
    """Two-sided Kolmogorov-Smirnov: the largest gap between the two empirical distributions."""
    from scipy.stats import ks_2samp

    result = ks_2samp(reference, window)
    return Outcome(float(result.statistic), float(result.pvalue))


def rate_increase_test(reference_hits: int, reference_total: int, window_hits: int, window_total: int) -> Outcome:
    """Window rate minus reference rate, with the one-sided p-value of a pooled two-proportion z-test."""
    from scipy.stats import norm

    if reference_total == 0 or window_total == 0:
        return Outcome(0.0, None)
    p_ref, p_win = reference_hits / reference_total, window_hits / window_total
    pooled = (reference_hits + window_hits) / (reference_total + window_total)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / reference_total + 1 / window_total))
    if spread == 0:
        return Outcome(p_win - p_ref, 1.0)
    return Outcome(p_win - p_ref, float(norm.sf((p_win - p_ref) / spread)))


def label_shift_test(reference_counts: np.ndarray, window_counts: np.ndarray) -> tuple[Outcome, float]:
    """Chi-square test of homogeneity on the 2 x classes table (classes seen in neither sample left out), and the
    population stability index of the window's label shares against the reference's."""
    from scipy.stats import chi2_contingency

    keep = (reference_counts + window_counts) > 0
    table = np.stack([reference_counts[keep], window_counts[keep]]).astype(np.float64)
    if table.shape[1] < 2 or table.sum(1).min() == 0:
        return Outcome(0.0, None), 0.0
    result = chi2_contingency(table)
    return Outcome(float(result.statistic), float(result.pvalue)), psi(reference_counts, window_counts)


def psi(reference_counts: np.ndarray, window_counts: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index: sum (w - r) ln(w / r) over the label shares (floored to avoid log 0)."""
    r = np.maximum(reference_counts / max(reference_counts.sum(), 1), floor)
    w = np.maximum(window_counts / max(window_counts.sum(), 1), floor)
    return float(((w - r) * np.log(w / r)).sum())
