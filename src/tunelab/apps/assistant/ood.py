"""Out-of-scope scores (higher = more likely out of scope): softmax, energy, Mahalanobis, kNN, FAQ, and their blend.

    msp          1 - the classifier's top softmax probability
    energy       -logsumexp(logits)
    mahalanobis  min over intents of the squared Mahalanobis distance of the pooled features to the intent's
                 training mean, with one shared covariance (shrunk towards a scaled identity)
    knn          1 - cosine similarity to the k-th nearest training question (normalised pooled features)
    faq          1 - cosine similarity to the nearest FAQ phrasing
    combined     a logistic regression on the standardised scores above, fitted on the calibration split

The statistics (intent means, shared precision matrix, kNN bank) are fitted on the training questions' features
and stored as safetensors + JSON (`ood_stats.safetensors`, `ood.json`); never pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunelab.artifacts.files import read_json, write_bytes_atomic, write_json_atomic
from tunelab.errors import ArtifactError, UsageError

COMPONENTS = ("msp", "energy", "mahalanobis", "knn", "faq")
METHODS = ("combined", *COMPONENTS)
DEFAULT_METHOD = "combined"
STATS_FILE = "ood_stats.safetensors"
MODEL_FILE = "ood.json"


@dataclass(frozen=True)
class OodStats:
    """Statistics of the training questions' pooled features."""

    labels: tuple[str, ...]  # intent of each row of `means`
    means: np.ndarray  # (intents, d)
    precision: np.ndarray  # (d, d): inverse of the shrunk shared covariance
    bank: np.ndarray  # (training questions, d), unit rows: the kNN bank
    k: int


def fit_stats(features: np.ndarray, labels: list[str] | tuple[str, ...], shrinkage: float = 0.1,
              k: int = 10) -> OodStats:
    """Intent means and the shared within-intent covariance, shrunk as (1 - a) S + a tr(S)/d I."""
    if len(features) != len(labels) or len(features) < 2:
        raise UsageError("fitting out-of-scope statistics needs at least two labelled feature rows")
    x = features.astype(np.float64)
    names = tuple(sorted(set(labels)))
    y = np.array([names.index(label) for label in labels])
    means = np.stack([x[y == c].mean(0) for c in range(len(names))])
    centred = x - means[y]
    cov = centred.T @ centred / len(x)
    d = cov.shape[0]
    shrunk = (1 - shrinkage) * cov + shrinkage * (np.trace(cov) / d + 1e-12) * np.eye(d)
    precision = np.linalg.pinv(shrunk, hermitian=True)
    return OodStats(names, means.astype(np.float32), precision.astype(np.float32), _unit(features),
                    max(1, min(k, len(features))))


def mahalanobis(stats: OodStats, features: np.ndarray) -> np.ndarray:
    """(n,) min over intents of (x - m)^T P (x - m)."""
    x = features.astype(np.float64)
    p = stats.precision.astype(np.float64)
    m = stats.means.astype(np.float64)
    xp = x @ p
    d = (xp * x).sum(1)[:, None] - 2 * xp @ m.T + ((m @ p) * m).sum(1)[None, :]
    return d.min(1).astype(np.float32)


def knn_distance(stats: OodStats, features: np.ndarray, chunk: int = 256) -> np.ndarray:
    """(n,) 1 - cosine similarity to the k-th nearest bank row."""
    q = _unit(features)
    out = np.empty(len(q), dtype=np.float32)
    for start in range(0, len(q), chunk):
        sims = q[start:start + chunk] @ stats.bank.T
        kth = np.partition(-sims, stats.k - 1, axis=1)[:, stats.k - 1]
        out[start:start + chunk] = 1 + kth
    return out


def energy(logits: np.ndarray) -> np.ndarray:
    top = logits.max(1, keepdims=True)
    return -(top[:, 0] + np.log(np.exp(logits - top).sum(1))).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Components:
    """Each available out-of-scope score for n questions, by name (absent: the assistant lacks that part)."""

    values: dict[str, np.ndarray]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n in COMPONENTS if n in self.values)

    def matrix(self, names: tuple[str, ...]) -> np.ndarray:
        missing = [n for n in names if n not in self.values]
        if missing:
            raise ArtifactError(f"out-of-scope score(s) {', '.join(missing)} are not available for this assistant")
        return np.stack([self.values[n] for n in names], axis=1).astype(np.float64)

    def row(self, i: int) -> dict[str, float]:
        return {n: round(float(self.values[n][i]), 6) for n in self.names}


def compute_components(stats: OodStats | None, features: np.ndarray | None, logits: np.ndarray | None,
                       faq_similarity: np.ndarray | None) -> Components:
    """The scores the inputs allow: the classifier's (logits, features + stats) and the FAQ's (best cosine)."""
    values: dict[str, np.ndarray] = {}
    if logits is not None and logits.shape[1] > 0:
        top = logits.max(1, keepdims=True)
        probs = np.exp(logits - top)
        values["msp"] = (1 - probs.max(1) / probs.sum(1)).astype(np.float32)
        values["energy"] = energy(logits)
    if stats is not None and features is not None:
        values["mahalanobis"] = mahalanobis(stats, features)
        values["knn"] = knn_distance(stats, features)
    if faq_similarity is not None:
        values["faq"] = (1 - faq_similarity).astype(np.float32)
    return Components(values)


@dataclass(frozen=True)
class Combiner:
    """Logistic regression on standardised component scores: P(out of scope)."""

    names: tuple[str, ...]
    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def score(self, components: Components) -> np.ndarray:
        z = (components.matrix(self.names) - self.center) / self.scale
        return _sigmoid(z @ self.weights + self.bias).astype(np.float32)


def fit_combiner(components: Components, is_oos: np.ndarray, l2: float = 1.0, steps: int = 50) -> Combiner:
    """Newton steps on the L2-penalised, class-balanced logistic loss (numpy only)."""
    names = components.names
    x = components.matrix(names)
    center, scale = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - center) / scale, np.ones((len(x), 1))])
    y = is_oos.astype(np.float64)
    n_pos, n_neg = max(y.sum(), 1.0), max((1 - y).sum(), 1.0)
    weight = np.where(y == 1, len(y) / (2 * n_pos), len(y) / (2 * n_neg))
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[-1, -1] = 0.0
    for _ in range(steps):
        p = _sigmoid(z @ w)
        grad = z.T @ (weight * (p - y)) + penalty @ w
        hess = (z * (weight * p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(w)), grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Combiner(names, center, scale, w[:-1], float(w[-1]))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


@dataclass(frozen=True)
class OodModel:
    """Which score decides a hand-off (`method`), the statistics and blend behind it."""

    method: str
    stats: OodStats | None
    combiner: Combiner

    def decision(self, components: Components) -> np.ndarray:
        if self.method == "combined":
            return self.combiner.score(components)
        return components.matrix((self.method,))[:, 0].astype(np.float32)


def save_ood_model(folder: Path, model: OodModel) -> None:
    from safetensors.numpy import save

    c, stats = model.combiner, model.stats
    if stats is not None:
        tensors = {"means": stats.means, "precision": stats.precision, "bank": stats.bank}
        write_bytes_atomic(folder / STATS_FILE, save({k: np.ascontiguousarray(v) for k, v in tensors.items()}))
    meta = {"method": model.method, "components": list(c.names), "center": c.center.tolist(),
            "scale": c.scale.tolist(), "weights": c.weights.tolist(), "bias": c.bias,
            "stats": None if model.stats is None else {"labels": list(model.stats.labels), "k": model.stats.k}}
    write_json_atomic(folder / MODEL_FILE, meta)


def load_ood_model(folder: Path) -> OodModel | None:
    """The folder's out-of-scope model, or None for an assistant built before it existed."""
    if not (folder / MODEL_FILE).is_file():
        return None
    from safetensors.numpy import load_file

    meta = read_json(folder / MODEL_FILE)
    try:
        stats = None
        if meta["stats"] is not None:
            t = load_file(str(folder / STATS_FILE))
            stats = OodStats(tuple(meta["stats"]["labels"]), t["means"], t["precision"], t["bank"],
                             int(meta["stats"]["k"]))
        combiner = Combiner(tuple(meta["components"]), np.array(meta["center"]), np.array(meta["scale"]),
                            np.array(meta["weights"]), float(meta["bias"]))
        return OodModel(str(meta["method"]), stats, combiner)
    except (KeyError, TypeError, OSError) as exc:
        raise ArtifactError(f"{folder / MODEL_FILE} or {STATS_FILE} is malformed: {exc}") from None
