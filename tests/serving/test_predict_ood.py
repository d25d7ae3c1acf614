"""`ood: true` on /v1/models/{name}/predict: an out-of-distribution score per prediction, statistics fitted once
on the run's training data and cached in its folder; absent without the flag; 4xx for a model that has none."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import INTENTS


def test_predict_with_ood_scores(make_server: Any, served_runs: dict[str, Path], tmp_path: Path) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.outliers import load_stats, mahalanobis

    run = tmp_path / "intents-run"
    shutil.copytree(served_runs["intents_a"], run)  # the statistics get cached in the folder: use a copy
    for cached in run.glob("ood_stats.*"):  # fitted by an earlier test on the shared run: start without them
        cached.unlink()
    server = make_server(register=False)
    server.store.register(run, "ood-intents")
    server.store.register(served_runs["ner"], "entities")
    texts = [INTENTS["refund"][0], "zebra quantum violin xylophone"]
    plain = server.client.post("/v1/models/ood-intents/predict", json={"inputs": texts},
                               headers=server.headers("predict"))
    assert plain.status_code == 200 and all("ood_score" not in p for p in plain.json()["predictions"])
    assert not (run / "ood_stats.json").exists()  # nothing fitted unless asked
    response = server.client.post("/v1/models/ood-intents/predict", json={"inputs": texts, "ood": True},
                                  headers=server.headers("predict"))
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == [p["label"] for p in plain.json()["predictions"]]
    scores = np.array([p["ood_score"] for p in predictions])
    stats = load_stats(run)  # cached in the run folder as safetensors + JSON
    assert set(stats.labels) == set(INTENTS) and (run / "ood_stats.safetensors").is_file()
    features, _ = Predictor.load(run).features(texts)
    np.testing.assert_allclose(scores, mahalanobis(stats, features), rtol=1e-3, atol=1e-3)
    from tunelab.client import predict as predict_call

    assert predict_call("ood-intents", texts, ood=True).json["ood"] is True  # the SDK sends the flag
    assert "ood" not in predict_call("ood-intents", texts).json
    ner = server.client.post("/v1/models/entities/predict", json={"inputs": ["Alice visited Paris"], "ood": True},
                             headers=server.headers("predict"))
    assert 400 <= ner.status_code < 500 and "classification" in ner.text
