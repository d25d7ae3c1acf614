"""Calibration of confidences: expected calibration error and reliability-diagram bins."""

from __future__ import annotations

from typing import Any

import numpy as np

from tunelab.evaluation.scoring import rounded


def _bin_index(confidences: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins over [0, 1]; bin k holds (k/bins, (k+1)/bins], bin 0 also holds 0."""
    inner_edges = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.searchsorted(inner_edges, np.clip(confidences, 0.0, 1.0), side="left")


def _prepare(confidences: np.ndarray, correct: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    conf = np.asarray(confidences, dtype=float).reshape(-1)
    hits = np.asarray(correct, dtype=float).reshape(-1)
    if conf.shape != hits.shape:
        raise ValueError(f"confidences has {conf.size} items but correct has {hits.size}")
    return conf, hits


def _bin_stats(conf: np.ndarray, hits: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin count, summed confidence and summed correctness."""
    index = _bin_index(conf, bins)
    counts = np.bincount(index, minlength=bins).astype(float)
    conf_sum = np.bincount(index, weights=conf, minlength=bins)
    hit_sum = np.bincount(index, weights=hits, minlength=bins)
    return counts, conf_sum, hit_sum


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Sum over bins of |accuracy - mean confidence| weighted by the bin's share of examples."""
    conf, hits = _prepare(confidences, correct, bins)
    if conf.size == 0:
        return 0.0
    counts, conf_sum, hit_sum = _bin_stats(conf, hits, bins)
    return float(np.abs(hit_sum - conf_sum).sum() / conf.size)


def reliability_bins(confidences: np.ndarray, correct: np.ndarray, bins: int = 15) -> list[dict[str, Any]]:
    """One dict per bin: lo, hi, mean confidence, accuracy (both 0.0 when empty) and count."""
    conf, hits = _prepare(confidences, correct, bins)
    counts, conf_sum, hit_sum = _bin_stats(conf, hits, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for k in range(bins):
        n = counts[k]
        out.append({"lo": rounded(edges[k]), "hi": rounded(edges[k + 1]),
                    "confidence": rounded(conf_sum[k] / n) if n else 0.0,
                    "accuracy": rounded(hit_sum[k] / n) if n else 0.0, "count": int(n)})
    return out
