"""Baselines and the full-ranking evaluator on hand-made matrices."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from tunelab.apps.recommender.baselines import Ease, Factors, ItemKNN, Popularity, user_item_matrix
from tunelab.apps.recommender.metrics import HeldOut, evaluate, rank_of, user_metrics

# users 0-3 like items {0,1}; users 4-5 like {2,3}; item 4 is liked by nobody (cold)
USERS = np.array([0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 5])
ITEMS = np.array([0, 1, 0, 1, 0, 1, 0, 2, 3, 2, 3])


def matrix() -> sp.csr_matrix:
    return user_item_matrix(USERS, ITEMS, np.ones(len(USERS), dtype=np.float32), (6, 5))


def test_rank_and_metrics_by_hand() -> None:
    scores = np.array([0.9, 0.6, 0.5, 0.1])
    assert [rank_of(scores, i) for i in range(4)] == [1, 2, 3, 4]
    recall, ndcg, rr, top = user_metrics(scores, np.array([2]), k=2)
    assert top.tolist() == [0, 1] and recall == 0.0 and ndcg == 0.0 and math.isclose(rr, 1 / 3)
    recall, ndcg, rr, _ = user_metrics(scores, np.array([1, 3]), k=2)
    assert recall == 0.5 and math.isclose(ndcg, (1 / math.log2(3)) / (1 + 1 / math.log2(3))) and rr == 0.5


def test_tied_scores_count_at_their_expected_rank_not_by_item_number() -> None:
    """Items 1 and 2 tie for ranks 2-3: served by index, but each is in a top 2 half the time."""
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    assert rank_of(scores, 2) == 3  # the served order
    for item in (1, 2):
        recall, ndcg, rr, _ = user_metrics(scores, np.array([item]), k=2)
        assert recall == 0.5
        assert math.isclose(ndcg, 0.5 / math.log2(3)) and math.isclose(rr, (1 / 2 + 1 / 3) / 2)
    # a scorer with no information (every item tied) gets chance: k / n
    recall, ndcg, rr, _ = user_metrics(np.zeros(40), np.array([17]), k=10)
    assert math.isclose(recall, 10 / 40) and math.isclose(rr, sum(1 / p for p in range(1, 41)) / 40)


def test_evaluator_never_ranks_seen_items() -> None:
    seen = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32))
    test = HeldOut(np.array([0]), [np.array([1])], seen, np.zeros(5, dtype=bool))
    result = evaluate(lambda rows: np.array([[10.0, 5.0, 1.0, 0.0, 0.0]]), test, k=1)
    assert result.recall == 1.0 and result.mrr == 1.0  # item 0 is seen: item 1 is first
    assert result.coverage == 1 / 5


def test_cold_subset_is_reported_apart() -> None:
    cold = np.array([False, False, False, False, True])
    test = HeldOut(np.array([3]), [np.array([1, 4])], matrix(), cold)
    result = evaluate(Popularity.fit(matrix()).score, test, k=2)
    assert result.cold_users == 1 and result.cold_recall == 0.0  # popularity never ranks a cold item
    assert result.recall == 0.5


def test_cold_pool_ranks_among_the_cold_items_only() -> None:
    """Item 4 is new and liked: third against the whole catalogue (missed at k=1), first among the new items."""
    cold = np.array([False, False, True, True, True])
    seen = sp.csr_matrix((1, 5), dtype=np.float32)
    test = HeldOut(np.array([0]), [np.array([4])], seen, cold)
    result = evaluate(lambda rows: np.array([[9.0, 8.0, 1.0, 0.0, 5.0]]), test, k=1)
    assert result.cold_recall == 0.0 and result.cold_pool_recall == 1.0 and result.cold_pool_ndcg == 1.0
    flat = evaluate(lambda rows: np.array([[9.0, 8.0, 1.0, 0.0, 0.5]]), test, k=1)
    assert flat.cold_pool_recall == 0.0  # item 2 outranks it among the new items


def test_popularity_ranks_cold_items_at_chance_in_the_pool() -> None:
    """Nobody liked items 2-4: popularity ties them, so among them it finds the liked one 1 time in 3 at k=1."""
    cold = np.array([False, False, True, True, True])
    seen = sp.csr_matrix((1, 5), dtype=np.float32)
    test = HeldOut(np.array([0]), [np.array([4])], seen, cold)
    counts = Popularity(np.array([5.0, 3.0, 0.0, 0.0, 0.0]))
    result = evaluate(counts.score, test, k=1)
    assert result.cold_recall == 0.0 and math.isclose(result.cold_pool_recall, 1 / 3)


def test_collaborative_baselines_recommend_the_co_liked_item() -> None:
    m = matrix()
    for model in (ItemKNN.fit(m), Ease.fit(m, regularisation=1.0)):
        scores = model.score(np.array([3]))[0]  # user 3 liked item 0 only; its group also liked item 1
        assert scores.argmax() == 1 or (scores[1] > scores[2] and scores[1] > scores[3]), model.name
        assert scores[4] == 0.0
    als = Factors.fit_als(m, factors=4, iterations=10)
    assert als.score(np.array([0, 4])).shape == (2, 5)
    bpr = Factors.fit_bpr(m, factors=4, iterations=20)
    assert bpr.items.shape[0] == 5
