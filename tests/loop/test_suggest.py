"""Active learning: uncertainty scores, k-means, and a batch that is uncertain and spread across clusters."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.errors import UsageError
from tunelab.loop.embeddings import TextFeatures
from tunelab.loop.suggest import diverse_order, kmeans, rank_features, uncertainty


def test_margin_and_entropy_rank_a_coin_toss_above_a_sure_answer() -> None:
    p = np.array([[0.98, 0.01, 0.01], [0.5, 0.49, 0.01], [1 / 3, 1 / 3, 1 / 3]])
    margin, entropy = uncertainty(p, "margin"), uncertainty(p, "entropy")
    assert margin[0] < margin[1] and margin[2] == pytest.approx(1.0)
    assert entropy[0] < entropy[1] < entropy[2] and entropy[2] == pytest.approx(1.0)
    with pytest.raises(UsageError, match="unknown uncertainty"):
        uncertainty(p, "variance")


def test_kmeans_finds_separated_blobs() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 10
    x = np.concatenate([c + rng.normal(scale=0.1, size=(20, 4)) for c in centres])
    assign = kmeans(x, 4, seed=0)
    assert all(len(set(assign[i * 20:(i + 1) * 20])) == 1 for i in range(4))
    assert len(set(assign)) == 4


def test_fifty_copies_of_one_question_do_not_fill_the_batch() -> None:
    """Fifty near-copies of the most uncertain question and ten others: uncertainty alone would take ten copies;
    the batch takes one copy, then the other clusters' most uncertain texts."""
    rng = np.random.default_rng(1)
    copies = np.array([1.0, 0, 0, 0]) + rng.normal(scale=0.01, size=(50, 4))
    others = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]).repeat(4, axis=0)[:10] \
        + rng.normal(scale=0.01, size=(10, 4))
    embeddings = np.concatenate([copies, others]).astype(np.float32)
    top = np.concatenate([np.full(50, 0.40), np.linspace(0.45, 0.9, 10)])
    probabilities = np.stack([top, 1 - top], axis=1).astype(np.float32)
    features = TextFeatures(embeddings, probabilities, np.ones(60, dtype=np.int64), np.zeros(60, dtype=np.int64))
    chosen, scores, clusters = rank_features(features, 4, clusters=4)
    assert sum(1 for i in chosen if i < 50) == 1
    assert len({int(clusters[i]) for i in chosen}) == 4
    assert scores[chosen[0]] == scores.max()


def test_the_batch_comes_from_the_most_uncertain_texts_only() -> None:
    """Forty confident texts in four tight clusters and eight uncertain ones in one: clustering the whole pool
    would take a confident text from each confident cluster; the batch is drawn from the 2 x n most uncertain, and
    only those are clustered."""
    rng = np.random.default_rng(2)
    centres = np.eye(5) * 10
    embeddings = np.stack([centres[min(i // 10, 4)] + rng.normal(scale=0.1, size=5) for i in range(48)])
    top = np.concatenate([np.full(40, 0.99), np.linspace(0.5, 0.6, 8)])
    probabilities = np.stack([top, 1 - top], axis=1).astype(np.float32)
    features = TextFeatures(embeddings, probabilities, np.ones(48, dtype=np.int64), np.zeros(48, dtype=np.int64))
    chosen, scores, clusters = rank_features(features, 4, clusters=2)
    assert len(chosen) == 4 and min(chosen) >= 40
    assert (clusters[:40] == -1).all() and (clusters[40:] >= 0).all()
    whole_pool, _, _ = rank_features(features, 4, clusters=5, candidates=48 / 4)
    assert sum(1 for i in whole_pool if i < 40) == 4 - 1
    with pytest.raises(UsageError, match="candidates"):
        rank_features(features, 4, candidates=0.5)


def test_round_robin_order() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    clusters = np.array([0, 0, 0, 1, 1])
    assert diverse_order(scores, clusters, 5) == [0, 3, 1, 4, 2]
    assert diverse_order(scores, clusters, 2) == [0, 3]
