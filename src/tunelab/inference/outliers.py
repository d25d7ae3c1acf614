"""Out-of-distribution statistics of a classifier's features: class means, a shared shrunk covariance, one
background Gaussian over all rows, a kNN bank; the Mahalanobis, relative Mahalanobis, kNN and energy scores over
them; their safetensors + JSON files; and a run's statistics fitted once from its training data and cached in the
run folder (`ood_stats.safetensors`, `ood_stats.json`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.artifacts.files import read_json, write_bytes_atomic, write_json_atomic
from tunelab.errors import ArtifactError, UsageError

STATS_TENSORS = "ood_stats.safetensors"
STATS_META = "ood_stats.json"
POOLINGS = ("head", "mean")


@dataclass(frozen=True)
class OodStats:
    """Statistics of the training examples' pooled features."""

    labels: tuple[str, ...]  # class of each row of `means`
    means: np.ndarray  # (classes, d)
    precision: np.ndarray  # (d, d): inverse of the shrunk shared covariance
    bank: np.ndarray  # (training questions, d), unit rows: the kNN bank
    k: int
    pooling: str = "head"  # which features they describe: "head" (the head's input) or "mean" (Predictor.features)
    background_mean: np.ndarray | None = None  # (d,): all rows' mean (None: statistics saved before it existed)
    background_precision: np.ndarray | None = None  # (d, d): inverse of all rows' shrunk covariance


def fit_stats(features: np.ndarray, labels: list[str] | tuple[str, ...], shrinkage: float = 0.1,
              k: int = 10, pooling: str = "head") -> OodStats:
    """Class means and the shared within-class covariance, shrunk as (1 - a) S + a tr(S)/d I; the same for one
    background Gaussian over all rows (relative Mahalanobis)."""
    if len(features) != len(labels) or len(features) < 2:
        raise UsageError("fitting out-of-distribution statistics needs at least two labelled feature rows")
    x = features.astype(np.float64)
    names = tuple(sorted(set(labels)))
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[label] for label in labels])
    means = np.stack([x[y == c].mean(0) for c in range(len(names))])
    background = x.mean(0)
    return OodStats(names, means.astype(np.float32), _shrunk_precision(x - means[y], shrinkage), _unit(features),
                    max(1, min(k, len(features))), pooling, background.astype(np.float32),
                    _shrunk_precision(x - background, shrinkage))


def _shrunk_precision(centred: np.ndarray, shrinkage: float) -> np.ndarray:
    cov = centred.T @ centred / len(centred)
    d = cov.shape[0]
    shrunk = (1 - shrinkage) * cov + shrinkage * (np.trace(cov) / d + 1e-12) * np.eye(d)
    return np.linalg.pinv(shrunk, hermitian=True).astype(np.float32)


def mahalanobis(stats: OodStats, features: np.ndarray) -> np.ndarray:
    """(n,) min over classes of (x - m)^T P (x - m)."""
    return _squared_distances(features, stats.means, stats.precision).min(1).astype(np.float32)


def relative_mahalanobis(stats: OodStats, features: np.ndarray) -> np.ndarray:
    """(n,) the Mahalanobis score minus the squared distance under the background Gaussian (Ren et al. 2021): the
    part of the distance that the training data as a whole shares (a direction in which every question is as
    narrow as each intent) is discounted, the part along which the intents differ is kept. Needs
    `stats.background_*`."""
    if stats.background_mean is None or stats.background_precision is None:
        raise ArtifactError("these out-of-distribution statistics have no background Gaussian (fitted before it "
                            "existed): refit them for the relative Mahalanobis score")
    background = _squared_distances(features, stats.background_mean[None, :], stats.background_precision)[:, 0]
    return (mahalanobis(stats, features) - background).astype(np.float32)


def _squared_distances(features: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(n, rows of means): (x - m)^T P (x - m)."""
    x = features.astype(np.float64)
    p = precision.astype(np.float64)
    m = means.astype(np.float64)
    xp = x @ p
    return (xp * x).sum(1)[:, None] - 2 * xp @ m.T + ((m @ p) * m).sum(1)[None, :]


def knn_distance(stats: OodStats, features: np.ndarray, chunk: int = 256, k: int | None = None) -> np.ndarray:
    """(n,) 1 - cosine similarity to the k-th nearest bank row (`k`: the statistics' own unless given)."""
    q = _unit(features)
    k = min(k or stats.k, len(stats.bank))
    out = np.empty(len(q), dtype=np.float32)
    for start in range(0, len(q), chunk):
        sims = q[start:start + chunk] @ stats.bank.T
        kth = np.partition(-sims, k - 1, axis=1)[:, k - 1]
        out[start:start + chunk] = 1 + kth
    return out


def energy(logits: np.ndarray) -> np.ndarray:
    """-logsumexp(logits): higher where the classifier is less sure."""
    top = logits.max(1, keepdims=True)
    return -(top[:, 0] + np.log(np.exp(logits - top).sum(1))).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def save_stats(folder: Path, stats: OodStats, extra: dict[str, Any] | None = None) -> None:
    from safetensors.numpy import save

    tensors = {"means": stats.means, "precision": stats.precision, "bank": stats.bank}
    if stats.background_mean is not None and stats.background_precision is not None:
        tensors |= {"background_mean": stats.background_mean, "background_precision": stats.background_precision}
    write_bytes_atomic(folder / STATS_TENSORS, save({k: np.ascontiguousarray(v) for k, v in tensors.items()}))
    write_json_atomic(folder / STATS_META, {"labels": list(stats.labels), "k": stats.k, "pooling": stats.pooling,
                                            **(extra or {})})


def load_stats(folder: Path) -> OodStats:
    """The folder's statistics; those saved before pooling and the background existed read as "head" and None."""
    from safetensors.numpy import load_file

    try:
        meta = read_json(folder / STATS_META)
        t = load_file(str(folder / STATS_TENSORS))
        pooling = str(meta.get("pooling", "head"))
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}")
        return OodStats(tuple(meta["labels"]), t["means"], t["precision"], t["bank"], int(meta["k"]), pooling,
                        t.get("background_mean"), t.get("background_precision"))
    except (KeyError, TypeError, OSError, ValueError) as exc:
        raise ArtifactError(f"the out-of-distribution statistics in {folder} are missing or malformed: {exc}") \
            from None


def run_stats(predictor: Any) -> OodStats:
    """The statistics of a classification run: read from its folder, or fitted once on its training split
    (re-read with the run's own data settings; refused when those files changed) and cached there."""
    run_dir = Path(predictor.run_dir)
    if (run_dir / STATS_META).is_file():
        return load_stats(run_dir)
    from tunelab.data.load import run_training_split

    examples, fingerprint = run_training_split(run_dir, "out-of-distribution statistics")
    features, _logits = predictor.features([e.text for e in examples])
    labels = [e.labels[0] for e in examples]
    stats = fit_stats(features, labels)
    save_stats(run_dir, stats, {"fitted_on": len(examples), "fingerprint": fingerprint})
    return stats

