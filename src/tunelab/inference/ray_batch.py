"""Cluster-sized batch scoring on Ray Data: one Predictor per Ray worker, `map_batches` over any Ray dataset
(Parquet, CSV or JSON files on local disk or object storage). Needs `pip install 'tunelab[ray]'`.

    import ray
    from tunelab.inference.ray_batch import score_dataset

    ray.init()                                      # or ray.init(address="auto") on a cluster
    ds = ray.data.read_parquet("s3://bucket/tickets/")
    score_dataset(ds, "runs/intents", column="text", concurrency=8).write_parquet("s3://bucket/scored/")

Each worker loads the run once (its constructor), then scores the batches Ray hands it: the rows keep every input
column and gain `label` and `score` (classification), `labels` (multi-label) or `spans` (NER, as JSON text).
For one machine, `tunelab predict RUN -i FILE -o OUT` streams a file without Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.types import ClassPrediction, MultiLabelPrediction, NerPrediction, Prediction


class BatchScorer:
    """The callable class Ray instantiates once per worker (`fn_constructor_kwargs`), then calls per batch."""

    def __init__(self, run: str, column: str = "text", backend: str = "torch", batch_size: int = 32,
                 threads: int | None = None) -> None:
        from tunelab.inference import Predictor

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.predictor = Predictor.load(run, backend=backend)
        self.column, self.batch_size = column, batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch[self.column]]
        predictions = self.predictor.predict(texts, batch_size=self.batch_size)
        return {**batch, **columns(predictions)}


def columns(predictions: list[Prediction]) -> dict[str, np.ndarray]:
    """The output columns of a batch of predictions (one task per model, so one shape per batch)."""
    first = predictions[0] if predictions else None
    if isinstance(first, ClassPrediction):
        return {"label": np.array([p.label for p in predictions], dtype=object),  # type: ignore[union-attr]
                "score": np.array([p.score for p in predictions], dtype=np.float32)}  # type: ignore[union-attr]
    if isinstance(first, MultiLabelPrediction):
        return {"labels": np.array(["|".join(p.labels) for p in predictions], dtype=object)}  # type: ignore
    if isinstance(first, NerPrediction):
        return {"spans": np.array([json.dumps([s.__dict__ for s in p.spans], ensure_ascii=False)  # type: ignore
                                   for p in predictions], dtype=object)}
    return {}


def score_dataset(dataset: Any, run: str | Path, *, column: str = "text", concurrency: int = 1,
                  batch_size: int = 256, backend: str = "torch", threads_per_worker: int | None = None) -> Any:
    """`dataset` with the predictions added, computed lazily by `concurrency` workers of one Predictor each."""
    from tunelab.extras import require

    require("ray", "scoring a Ray dataset")
    return dataset.map_batches(
        BatchScorer, fn_constructor_kwargs={"run": str(run), "column": column, "backend": backend,
                                            "threads": threads_per_worker},
        batch_size=batch_size, batch_format="numpy", concurrency=concurrency,
        num_cpus=threads_per_worker or 1)
