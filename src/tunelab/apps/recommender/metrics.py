"""Full-ranking evaluation over the whole catalogue (no sampled negatives): Recall@k, NDCG@k, MRR, coverage,
and the same on the cold-start subset (test items with no training interaction), twice: ranked against the whole
catalogue ("cold") and ranked among the cold items only ("cold pool": can the model tell which new item a user
wants, the question a shop asks when it adds a hundred items). Every metric is its expectation over a random order
of tied scores: popularity, which has nothing to go on among cold items, ranks them at chance there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class HeldOut:
    """Per evaluated user: its row in the training matrix and the items it liked in the test period."""

    rows: np.ndarray
    relevant: list[np.ndarray]
    exclude: sp.csr_matrix  # users x items: what each row already had in training (never ranked)
    cold: np.ndarray  # bool per item: no training interaction


@dataclass(frozen=True)
class RankingMetrics:
    recall: float
    ndcg: float
    mrr: float
    coverage: float
    users: int
    cold_recall: float
    cold_ndcg: float
    cold_users: int
    cold_pool_recall: float
    cold_pool_ndcg: float

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def rank_of(scores: np.ndarray, item: int) -> int:
    """1-based rank of `item` in a stable descending sort (ties go to the lower index): the order a list is served
    in; the metrics below do not use it (see `user_metrics`)."""
    value = scores[item]
    return int((scores > value).sum() + (scores[:item] == value).sum() + 1)


def user_metrics(scores: np.ndarray, relevant: np.ndarray, k: int) -> tuple[float, float, float, np.ndarray]:
    """Recall@k, NDCG@k and reciprocal rank of one user's scores, each the expected value when tied scores come in
    a random order (so a scorer that ties, like popularity among items nobody liked, gets chance credit rather
    than whatever the item numbering gives it); also the top-k items as served (ties by index).

    Recall and NDCG are exact expectations (a tied item's position is uniform over its tie's ranks). The
    reciprocal rank is the best single relevant item's expectation: exact with one relevant item, a lower bound
    when several share the best tie."""
    top = np.argsort(-scores, kind="stable")[:k]
    values = scores[relevant]
    above = (scores[None, :] > values[:, None]).sum(axis=1)
    tied = (scores[None, :] == values[:, None]).sum(axis=1)
    positions = np.arange(1, len(scores) + 1)
    gains = np.where(positions <= k, 1.0 / np.log2(positions + 1), 0.0)
    gain_sums = np.concatenate([[0.0], np.cumsum(gains)])
    inverse_sums = np.concatenate([[0.0], np.cumsum(1.0 / positions)])
    hit = np.clip((k - above) / tied, 0.0, 1.0)
    dcg = (gain_sums[above + tied] - gain_sums[above]) / tied
    reciprocal = (inverse_sums[above + tied] - inverse_sums[above]) / tied
    ideal = gains[: min(k, len(relevant))].sum()
    return float(hit.sum() / len(relevant)), float(dcg.sum() / ideal), float(reciprocal.max()), top


def evaluate(score: Callable[[np.ndarray], np.ndarray], test: HeldOut, k: int = 10,
             batch: int = 256) -> RankingMetrics:
    """Score every test user against every item, seen items excluded, and average the metrics."""
    totals, cold_totals, pool_totals = np.zeros(3), np.zeros(2), np.zeros(2)
    cold_users = 0
    shown: set[int] = set()
    n_items = test.exclude.shape[1]
    for start in range(0, len(test.rows), batch):
        rows = test.rows[start:start + batch]
        scores = np.asarray(score(rows), dtype=np.float64)
        seen = test.exclude[rows].tocoo()
        scores[seen.row, seen.col] = -np.inf
        for r in range(len(rows)):
            relevant = test.relevant[start + r]
            recall, ndcg, rr, top = user_metrics(scores[r], relevant, k)
            totals += (recall, ndcg, rr)
            shown.update(top.tolist())
            cold = relevant[test.cold[relevant]]
            if len(cold):
                cold_totals += user_metrics(scores[r], cold, k)[:2]
                pool_totals += user_metrics(np.where(test.cold, scores[r], -np.inf), cold, k)[:2]
                cold_users += 1
    users = max(1, len(test.rows))
    cold_mean, pool_mean = cold_totals / max(1, cold_users), pool_totals / max(1, cold_users)
    return RankingMetrics(float(totals[0] / users), float(totals[1] / users), float(totals[2] / users),
                          len(shown) / max(1, n_items), len(test.rows), float(cold_mean[0]), float(cold_mean[1]),
                          cold_users, float(pool_mean[0]), float(pool_mean[1]))
