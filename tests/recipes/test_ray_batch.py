"""Batch scoring on Ray Data: a local Ray instance, two workers with a Predictor each, every row scored once with
the same labels as the Predictor gives in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tunelab.inference import Predictor
from tunelab.inference.ray_batch import score_dataset

TEXTS = [f"{t} {i}" for i, t in enumerate(["refund my order", "where is my parcel", "reset my password"] * 20)]


@pytest.fixture(scope="module")
def ray_local() -> Iterator[object]:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'tunelab[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}})
    yield ray
    ray.shutdown()


@pytest.mark.usefixtures("ray_local")
def test_ray_scores_every_row_once_like_the_predictor(served_runs: dict[str, Path]) -> None:
    import ray

    run = served_runs["intents_a"]
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    rows = sorted(score_dataset(ds, run, concurrency=2, batch_size=16, threads_per_worker=1).take_all(),
                  key=lambda r: r["id"])
    expected = Predictor.load(run).predict(TEXTS)
    assert [r["id"] for r in rows] == list(range(len(TEXTS)))
    assert [r["label"] for r in rows] == [p.label for p in expected]  # type: ignore[union-attr]
    assert all(abs(r["score"] - p.score) < 1e-4 for r, p in zip(rows, expected))  # type: ignore[union-attr]
