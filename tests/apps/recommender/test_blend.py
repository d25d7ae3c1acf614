"""The hybrid blender on tiny synthetic data: fitted on validation, it learns to trust text for cold items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tunelab.apps.recommender.blend import SIGNALS, SINGLE, Blender, fit_blender
from tunelab.apps.recommender.engine import Profile, Signals, with_cold_slots
from tunelab.apps.recommender.evaluation import blender_candidates, choose_blender, held_out
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
    assert not blender.per_user and blender.cold_slots == 0  # raw scores, as they were fitted on
    again = Blender.from_dict(blender.with_slots(2).to_dict())
    assert again.cold_slots == 2 and again.weights.tolist() == blender.weights.tolist()


def _warm_next(known: sp.csr_matrix) -> np.ndarray:
    """Each user's next like: a warm item of their genre they have not liked yet."""
    return np.array([next(u % GENRES * PER_GENRE + j for j in range(WARM) if u % GENRES * PER_GENRE + j
                          not in known[u].indices) for u in range(40)])


def test_the_hybrid_falls_back_to_its_best_single_signal_on_validation() -> None:
    signals, known, times, next_cold = _world()
    valid = held_out(np.arange(40), next_cold, known)
    backwards = Blender(np.array([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]), np.zeros(6), np.ones(6))  # against text
    choice = choose_blender(signals, backwards, np.zeros((40, 2)), known, times, valid, 3, 0.8, cold_slots=0)
    best = max(choice.validation_ndcg[name] for name in SINGLE)
    assert choice.chosen == "text" and choice.validation_ndcg["text"] == best > choice.validation_ndcg["hybrid"]
    assert signals.blender is choice.blender and choice.blender.weights.tolist() == [1, 0, 0, 0, 0, 0]
    fitted = fit_blender(blender_candidates(signals, np.zeros((40, 2)), known, times, valid, width=3, decay=0.8))
    choice = choose_blender(signals, fitted, np.zeros((40, 2)), known, times, valid, 3, 0.8, cold_slots=1)
    assert choice.validation_ndcg[choice.chosen] >= max(choice.validation_ndcg[name] for name in SINGLE)


def test_a_cold_slot_is_filled_from_text_when_validation_likes_are_warm() -> None:
    signals, known, times, _ = _world()
    valid = held_out(np.arange(40), _warm_next(known), known)
    fitted = fit_blender(blender_candidates(signals, np.zeros((40, 2)), known, times, valid, width=3, decay=0.8))
    history = known[0].indices
    profile = Profile(user_vector(signals.index.vectors, history[history < PER_GENRE], 0.8), None, history)
    allowed = np.ones(len(signals.popularity), dtype=bool)
    allowed[history] = False
    cold = signals.popularity == 0
    signals.blender = fitted
    plain = [r.row for r in signals.rank(profile, 4, allowed)]
    assert not cold[plain].any()  # validation never liked a cold item: the blend alone shows none
    signals.blender = fitted.with_slots(1)
    slotted = [r.row for r in signals.rank(profile, 4, allowed)]
    by_text = np.where(cold & allowed, signals.index.vectors @ profile.text, -np.inf)
    assert slotted[:3] == plain[:3] and slotted[3] == int(np.argmax(by_text)) and slotted[3] // PER_GENRE == 0


def test_cold_slots_replace_the_lowest_warm_rows_only_when_needed() -> None:
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5])
    cold = np.array([False, False, False, False, True, True])
    assert with_cold_slots(scores, cold, 3, 1).tolist() == [0, 1, 4]
    assert with_cold_slots(scores, cold, 3, 2).tolist() == [0, 4, 5]
    assert with_cold_slots(scores, np.roll(cold, -3), 3, 1).tolist() == [0, 1, 2]  # row 1 is cold already
    assert with_cold_slots(scores, np.zeros(6, dtype=bool), 3, 1).tolist() == [0, 1, 2]  # nothing cold: unchanged


def test_text_and_collaborative_scores_are_standardised_over_the_whole_catalogue() -> None:
    signals, *_ = _world()
    rng = np.random.default_rng(3)
    signals.collab_items = rng.normal(size=(len(signals.popularity), 2))
    profile = Profile(signals.index.vectors[0], np.array([0.5, -1.0]), np.array([0]))
    every = signals.features(profile)
    for column, raw in ((0, signals.index.vectors @ profile.text), (1, signals.collab_items @ profile.collaborative)):
        assert np.allclose(every[:, column], (raw - raw.mean()) / raw.std(), atol=1e-5)
    rows = np.array([3, 17, 30])
    assert np.allclose(signals.features(profile, rows), every[rows], atol=1e-6)  # the ANN path's candidates agree
    added = rng.normal(size=(2, 16))
    signals.index.add(added / np.linalg.norm(added, axis=1, keepdims=True))
    signals.collab_items = np.vstack([signals.collab_items, np.zeros((2, 2))])
    signals.popularity = np.append(signals.popularity, [0.0, 0.0])
    signals.freshness = np.append(signals.freshness, [0.0, 0.0])
    signals.items_added(np.zeros((2, 2)))
    signals.replace_text(5, signals.index.vectors[6])
    raw = signals.index.vectors @ profile.text
    assert np.allclose(signals.features(profile)[:, 0], (raw - raw.mean()) / raw.std(), atol=1e-5)
