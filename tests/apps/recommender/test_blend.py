"""The hybrid blender on tiny synthetic data: fitted on validation, it learns to trust text for cold items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tunelab.apps.recommender.blend import SIGNALS, Blender, fit_blender
from tunelab.apps.recommender.engine import Profile, Signals
from tunelab.apps.recommender.evaluation import blender_candidates, held_out
from tunelab.apps.recommender.retrieval import ItemIndex
from tunelab.apps.recommender.towers import user_vector

GENRES, PER_GENRE, WARM = 4, 10, 6  # items 0-5 of each genre have training likes, 6-9 are cold


def _world() -> tuple[Signals, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """40 items in 4 text clusters; 40 users who liked warm items of their genre (and popular items of others);
    validation: each user's next like is a cold item of their genre."""
    rng = np.random.default_rng(0)
    centres = np.eye(GENRES, 16)
    vectors = np.repeat(centres, PER_GENRE, axis=0) + 0.1 * rng.normal(size=(GENRES * PER_GENRE, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows, cols = [], []
    for user in range(40):
        genre = user % GENRES
        liked = [((genre + 1) % GENRES) * PER_GENRE + j for j in range(2)]  # popular items of another genre first
        liked += [genre * PER_GENRE + j for j in rng.choice(WARM, 3, replace=False)]
        rows += [user] * len(liked)
        cols += liked
    known = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(40, GENRES * PER_GENRE))
    times = sp.csr_matrix((np.arange(1.0, len(rows) + 1), (rows, cols)), shape=known.shape)
    popularity = np.log1p(np.asarray(known.sum(0)).ravel())
    freshness = np.where(popularity > 0, -rng.uniform(0.0, 7.0, len(popularity)), -np.log1p(365.0))  # no proxy
    neutral = Blender(np.ones(len(SIGNALS)), np.zeros(len(SIGNALS)), np.ones(len(SIGNALS)))
    signals = Signals(ItemIndex.build(vectors), np.zeros((len(vectors), 2)), popularity, freshness, neutral)
    next_cold = np.array([(u % GENRES) * PER_GENRE + WARM + rng.integers(PER_GENRE - WARM) for u in range(40)])
    return signals, known, times, next_cold


def test_a_cold_item_reaches_the_hybrids_top_k_when_validation_says_so() -> None:
    signals, known, times, next_cold = _world()
    valid = held_out(np.arange(40), next_cold, known)
    candidates = blender_candidates(signals, np.zeros((40, 2)), known, times, valid, width=3, decay=0.8)
    signals.blender = fit_blender(candidates)
    history = known[0].indices  # user 0: genre 0 (items 0-9), and two popular items of genre 1
    profile = Profile(user_vector(signals.index.vectors, history[history < PER_GENRE], 0.8), None, history)
    allowed = np.ones(len(signals.popularity), dtype=bool)
    allowed[history] = False
    top = signals.rank(profile, 3, allowed)
    cold = [r for r in top if signals.popularity[r.row] == 0]
    assert cold and all(r.row // PER_GENRE == 0 for r in cold), top  # cold items of the user's genre
    lift = {c.signal: c.value for c in cold[0].contributions}
    assert lift["cold"] + lift["cold text"] > 0  # the cold signals, fitted on validation, are what lift it


def test_old_builds_without_the_cold_signals_still_load() -> None:
    four = {name: {"weight": 1.0, "mean": 0.0, "scale": 1.0} for name in SIGNALS[:4]}
    blender = Blender.from_dict(four)
    assert blender.weights.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
