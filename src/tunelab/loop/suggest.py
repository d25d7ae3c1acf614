"""Active learning: which unlabelled texts a person should label next, and why.

Each text gets an uncertainty (margin: 1 - (p1 - p2); or entropy / ln(classes)). The CANDIDATES x n most uncertain
texts are grouped by k-means on their sentence embeddings, and the batch takes the most uncertain text of each cluster
in turn (round-robin, the clusters with the most uncertain texts first), so it is never fifty copies of one question.
Clustering the uncertain texts, not the whole pool, is Cluster-Margin's order (Citovsky et al. 2021): diversity among
the texts worth a label, not a quota for every region of the pool, confident ones included.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.data.spreadsheet import safe_row
from tunelab.errors import UsageError
from tunelab.loop.embeddings import TextFeatures, text_features

STRATEGIES = ("margin", "entropy")
# The batch is drawn from this many times n of the most uncertain texts (benchmarks/RESULTS.md, "Active learning: the
# candidates"). Labels to full data - 1 point, the whole pool clustered -> the 2 x n most uncertain: Banking77 with
# MiniLM fine-tuned every round (batch 770) 4,620 -> 3,080 / 3,850 / 3,850 on seeds 0-2, against random's 6,160 /
# 8,470 / 7,700; the frozen-encoder mode (5 seeds) Banking77 3,388 -> 3,080 and Twitter sentiment 2,100 -> 1,740.
CANDIDATES = 2.0
CSV_COLUMNS = ("text", "label", "predicted", "uncertainty", "cluster", "rank", "prediction_id", "reason")


@dataclass(frozen=True)
class Suggestion:
    rank: int  # 1 = label first
    text: str
    predicted: str
    uncertainty: float  # 0 (sure) .. 1 (a coin toss)
    cluster: int
    reason: str
    prediction_id: str | None = None


def uncertainty(probabilities: np.ndarray, strategy: str = "margin") -> np.ndarray:
    """(n,) in [0, 1], higher = less sure. margin: 1 - (top - runner-up); entropy: normalised by ln(classes)."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown uncertainty {strategy!r}", hint=f"use one of: {', '.join(STRATEGIES)}")
    p = probabilities.astype(np.float64)
    if p.shape[1] < 2:
        return np.zeros(len(p))
    if strategy == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    entropy = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(1)
    return entropy / np.log(p.shape[1])


def kmeans(x: np.ndarray, k: int, *, seed: int = 0, iterations: int = 30) -> np.ndarray:
    """(n,) cluster of each row: Lloyd's algorithm from a k-means++ start (seeded)."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(n)]]
    nearest = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = nearest.sum()
        pick = rng.choice(n, p=nearest / total) if total > 0 else rng.integers(n)
        centres.append(x[pick])
        nearest = np.minimum(nearest, ((x - x[pick]) ** 2).sum(1))
    c = np.stack(centres)
    assign = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        distances = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
        new = distances.argmin(1)
        if _ and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    return assign


def diverse_order(scores: np.ndarray, clusters: np.ndarray, n: int) -> list[int]:
    """Indices of at most `n` rows: round-robin over clusters (the cluster whose best row is most uncertain first),
    each cluster's rows from most to least uncertain."""
    queues = {int(c): sorted(np.flatnonzero(clusters == c).tolist(), key=lambda i: (-scores[i], i))
              for c in np.unique(clusters)}
    order = sorted(queues, key=lambda c: (-scores[queues[c][0]], c))
    picked: list[int] = []
    while len(picked) < n and any(queues.values()):
        for c in order:
            if queues[c] and len(picked) < n:
                picked.append(queues[c].pop(0))
    return picked


def rank_features(features: TextFeatures, n: int, *, strategy: str = "margin", clusters: int | None = None,
                  seed: int = 0, candidates: float | None = None) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(chosen indices in labelling order, uncertainty per row, cluster per row: -1 for a row outside the
    `candidates` (None: CANDIDATES) x n most uncertain, which are the only ones clustered)."""
    if n < 1:
        raise UsageError("the batch size must be at least 1")
    candidates = CANDIDATES if candidates is None else candidates
    if candidates < 1:
        raise UsageError(f"candidates must be at least 1 (times the batch size), not {candidates}")
    scores = uncertainty(features.probabilities, strategy)
    top = np.argsort(-scores, kind="stable")[:math.ceil(candidates * n)]
    k = clusters if clusters is not None else default_clusters(len(top), n)
    assign = np.full(len(scores), -1, dtype=np.int64)
    assign[top] = kmeans(features.embeddings[top].astype(np.float64), k, seed=seed)
    return [int(top[i]) for i in diverse_order(scores[top], assign[top], n)], scores, assign


def default_clusters(pool: int, n: int) -> int:
    """About four picks per cluster, at most one cluster per two pooled texts."""
    return max(1, min(max(n // 4, 1), pool // 2 or 1))


def suggest(predictor: Any, texts: Sequence[str], n: int, *, ids: Sequence[str | None] | None = None,
            strategy: str = "margin", clusters: int | None = None, seed: int = 0,
            candidates: float | None = None) -> list[Suggestion]:
    """The batch of at most `n` of `texts` to label next, each with its reason."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown uncertainty {strategy!r}", hint=f"use one of: {', '.join(STRATEGIES)}")
    if n < 1:
        raise UsageError("the batch size must be at least 1")
    if not texts:
        return []
    features = text_features(predictor, texts)
    chosen, scores, assign = rank_features(features, n, strategy=strategy, clusters=clusters, seed=seed,
                                           candidates=candidates)
    labels = predictor.label_set.names
    k = int(assign.max()) + 1
    out = []
    for rank, i in enumerate(chosen, start=1):
        p = features.probabilities[i]
        first, second = np.argsort(p)[::-1][:2] if len(p) > 1 else (int(p.argmax()), int(p.argmax()))
        reason = (f"{strategy} uncertainty {scores[i]:.3f}: {labels[first]} {p[first]:.2f} vs {labels[second]} "
                  f"{p[second]:.2f}; cluster {int(assign[i]) + 1} of {k}")
        out.append(Suggestion(rank, texts[i], labels[first], round(float(scores[i]), 6), int(assign[i]) + 1, reason,
                              ids[i] if ids is not None else None))
    return out


def rank_logged(predictor: Any, predictions: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Logged predictions (with their text) in the order to label them: [(prediction id, reason)] (the review
    queue's order)."""
    batch = suggest(predictor, [p["text"] for p in predictions], len(predictions),
                    ids=[p["id"] for p in predictions])
    return [(s.prediction_id or "", s.reason) for s in batch]


def write_batch_csv(path: Path, batch: Sequence[Suggestion]) -> None:
    """`text,label,...`: fill in `label` and the file is training data (`tunelab train --data`)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for s in batch:
            writer.writerow(safe_row([s.text, "", s.predicted, f"{s.uncertainty:.6f}", s.cluster, s.rank,
                                      s.prediction_id or "", s.reason]))
