"""The evaluation table: every baseline, the text tower alone and the hybrid, on the same held-out users."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tunelab.apps.recommender.baselines import Scorer
from tunelab.apps.recommender.blend import SIGNALS, SINGLE, Blender
from tunelab.apps.recommender.engine import Profile, Signals, top_rows, with_cold_slots
from tunelab.apps.recommender.metrics import HeldOut, RankingMetrics, evaluate
from tunelab.apps.recommender.towers import user_vector

# the signals whose own top rows are candidates of the blender's fit; not the cold text score's: its top rows are
# cold items selected for high text similarity that nobody liked, from which the fit learns to rank cold items by
# *low* text similarity (on ml-latest-small: cold pool Recall@10 0.0 with them, 0.14 without, as the text tower)
POOLED = [column for column, name in enumerate(SIGNALS) if name in ("text", "collaborative", "popularity")]


def held_out(users: np.ndarray, items: np.ndarray, known: sp.csr_matrix) -> HeldOut:
    """Held-out positives (user rows, item rows) grouped per user; `known` is what each user had before."""
    rows = np.unique(users)
    relevant = [np.unique(items[users == r]) for r in rows]
    cold = np.asarray((known > 0).sum(axis=0)).ravel() == 0
    return HeldOut(rows, relevant, known.tocsr(), cold)


def histories(known: sp.csr_matrix, times: sp.csr_matrix, rows: np.ndarray, width: int) -> list[np.ndarray]:
    """Each row's latest `width` known positives, oldest first (by time)."""
    out = []
    for r in rows:
        start, end = known.indptr[r], known.indptr[r + 1]
        cols, when = known.indices[start:end], times.data[start:end]
        out.append(cols[np.argsort(when, kind="stable")][-width:])
    return out


def profiles(signals: Signals, collab_users: np.ndarray, history: list[np.ndarray], rows: np.ndarray,
             decay: float) -> list[Profile]:
    return [Profile(user_vector(signals.index.vectors, h, decay), collab_users[r] if r < len(collab_users) else None,
                    h) for r, h in zip(rows, history)]


def hybrid_scorer(signals: Signals, collab_users: np.ndarray, known: sp.csr_matrix, times: sp.csr_matrix,
                  width: int, decay: float, text_only: bool = False, k: int = 10) -> Callable[[np.ndarray], np.ndarray]:
    """Score rows of `known` with the blended signals (or the text tower alone); with cold slots, the top k a
    user would be served (seen items excluded) is lifted above every other score, in its served order."""
    def score(rows: np.ndarray) -> np.ndarray:
        found = profiles(signals, collab_users, histories(known, times, rows, width), rows, decay)
        if text_only:
            return np.stack([signals.index.vectors @ p.text for p in found])
        out = np.stack([signals.blender.score(signals.features(p)) for p in found]).astype(np.float64)
        if signals.blender.cold_slots:
            cold = signals.popularity == 0
            for r, row in enumerate(rows):
                out[r, known[row].indices] = -np.inf
                served = with_cold_slots(out[r], cold, k, signals.blender.cold_slots)
                out[r, served] = out[r, np.isfinite(out[r])].max() + np.arange(len(served), 0, -1)
        return out
    return score


@dataclass(frozen=True)
class BlendChoice:
    """The blender a build serves, which candidate it was, and every candidate's validation NDCG@10."""

    blender: Blender
    chosen: str
    validation_ndcg: dict[str, float]


def choose_blender(signals: Signals, fitted: Blender, collab_users: np.ndarray, known: sp.csr_matrix,
                   times: sp.csr_matrix, valid: HeldOut, width: int, decay: float, cold_slots: int) -> BlendChoice:
    """The fitted blend (with `cold_slots`, else without) if its validation NDCG@10 is at least the best single
    signal's, else that signal alone: the hybrid is never worse than its best input on validation."""
    from tunelab.apps.recommender.metrics import evaluate

    options = {"hybrid": fitted.with_slots(cold_slots)}
    if cold_slots:
        options["hybrid, no cold slots"] = fitted
    options.update({name: Blender.single(name) for name in SINGLE})
    ndcg = {}
    for name, blender in options.items():
        signals.blender = blender
        ndcg[name] = round(evaluate(hybrid_scorer(signals, collab_users, known, times, width, decay), valid).ndcg, 5)
    best_single = max(SINGLE, key=lambda name: ndcg[name])
    chosen = next((name for name in options if name not in SINGLE and ndcg[name] >= ndcg[best_single]),
                  best_single)
    signals.blender = options[chosen]
    return BlendChoice(options[chosen], chosen, ndcg)


def blender_candidates(signals: Signals, collab_users: np.ndarray, known: sp.csr_matrix, times: sp.csr_matrix,
                       target: HeldOut, width: int, decay: float, per_source: int = 100, uniform: int = 300,
                       seed: int = 0) -> list[np.ndarray]:
    """Per validation user: features of the liked item first, then of the top `per_source` rows of each POOLED
    signal alone and of `uniform` random rows (the ordinary items a signal must push down)."""
    found = profiles(signals, collab_users, histories(known, times, target.rows, width), target.rows, decay)
    rng = np.random.default_rng(seed)
    out = []
    for profile, row, liked in zip(found, target.rows, target.relevant):
        features = signals.features(profile)
        seen = known[row].indices
        pools = [rng.choice(len(features), min(uniform, len(features)), replace=False)]
        for column in POOLED:
            values = features[:, column].copy()
            values[seen] = -np.inf
            pools.append(top_rows(values, per_source))
        rows = np.setdiff1d(np.unique(np.concatenate(pools)), np.concatenate([seen, liked[:1]]))
        out.append(np.vstack([features[liked[:1]], features[rows]]))
    return out


def evaluation_table(baselines: list[Scorer], model: Callable[[np.ndarray], np.ndarray],
                     text: Callable[[np.ndarray], np.ndarray], test: HeldOut) -> dict[str, RankingMetrics]:
    """Name -> metrics, baselines first, then the text tower and the hybrid."""
    table = {b.name: evaluate(b.score, test) for b in baselines}
    table["two-tower text"] = evaluate(text, test)
    table["hybrid"] = evaluate(model, test)
    return table


def format_table(table: dict[str, dict[str, float | int]]) -> str:
    header = (f"{'model':<16} {'Recall@10':>9} {'NDCG@10':>8} {'MRR':>7} {'coverage':>8} {'cold R@10':>9} "
              f"{'cold NDCG':>9} {'pool R@10':>9}")
    lines = [header, "-" * len(header)]
    for name, m in table.items():
        lines.append(f"{name:<16} {m['recall']:>9.4f} {m['ndcg']:>8.4f} {m['mrr']:>7.4f} {m['coverage']:>8.4f} "
                     f"{m['cold_recall']:>9.4f} {m['cold_ndcg']:>9.4f} {m.get('cold_pool_recall', 0.0):>9.4f}")
    first = next(iter(table.values()), None)
    if first:
        lines.append(f"({first['users']} users; cold-start subset: {first['cold_users']} users, ranked against the "
                     "whole catalogue (cold) and among the cold items only (pool))")
    return "\n".join(lines)


