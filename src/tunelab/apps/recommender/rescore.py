"""`recommend eval`: the build's table, or the saved model ranked again against a test file used as given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tunelab.apps.recommender.baselines import Factors, Popularity
from tunelab.apps.recommender.dataset import DataOptions
from tunelab.apps.recommender.engine import Signals
from tunelab.apps.recommender.evaluation import held_out, hybrid_scorer
from tunelab.apps.recommender.interactions import read_interactions
from tunelab.apps.recommender.metrics import evaluate
from tunelab.apps.recommender.retrieval import ItemIndex
from tunelab.apps.recommender.rules import PositiveRule
from tunelab.apps.recommender.state import BuildState
from tunelab.artifacts.files import read_json
from tunelab.errors import ArtifactError, DataError


def evaluate_folder(folder: Path, test: Path | None = None) -> dict[str, dict[str, float | int]]:
    if not (folder / "manifest.json").is_file():
        raise ArtifactError(f"{folder} is not a finished recommender build (no manifest.json)")
    manifest = read_json(folder / "manifest.json")
    if test is None:
        return dict(manifest["evaluation"])
    state = BuildState.load(folder)
    saved = manifest["options"]["data"]
    options = DataOptions(user_column=saved["user_column"], item_column=saved["item_column"],
                          positive=PositiveRule.parse(saved["positive"]))
    given, problems = read_interactions((test,), state.catalogue, options)
    errors = [p for p in problems if p.severity == "error"]
    if given is None or errors:
        raise DataError(errors or problems)
    given = given.positives()
    index = {u: i for i, u in enumerate(state.user_ids)}
    rows = np.array([index.get(given.user_ids[u], -1) for u in given.users], dtype=np.int64)
    return _table(state, rows[rows >= 0], given.items[rows >= 0])


def _table(state: BuildState, users: np.ndarray, items: np.ndarray) -> dict[str, dict[str, float | int]]:
    liked = state.weights > 0
    shape = (len(state.user_ids), len(state.catalogue.item_ids))
    known = sp.csr_matrix((np.ones(int(liked.sum()), dtype=np.float32), (state.users[liked], state.items[liked])),
                          shape=shape)
    known.sum_duplicates()
    latest = {(u, i): t for u, i, t in zip(state.users[liked], state.items[liked], state.times[liked])}
    coo = known.tocoo()
    times = sp.csr_matrix((np.array([latest[(u, i)] for u, i in zip(coo.row, coo.col)]) + 1.0, (coo.row, coo.col)),
                          shape=shape)
    known = sp.csr_matrix((np.ones(len(coo.row), dtype=np.float32), (coo.row, coo.col)), shape=shape)
    test = held_out(users, items, known)
    signals = Signals(ItemIndex.build(state.vectors, 10**12), state.collab_items, state.popularity,
                      state.freshness, state.blender)
    scorers = {"popularity": Popularity(np.expm1(state.popularity)).score,
               "als": Factors(state.collab_users, state.collab_items, "als").score,
               "two-tower text": hybrid_scorer(signals, state.collab_users, known, times, state.history, state.decay,
                                               text_only=True),
               "hybrid": hybrid_scorer(signals, state.collab_users, known, times, state.history, state.decay)}
    return {name: evaluate(score, test).to_dict() for name, score in scorers.items()}
