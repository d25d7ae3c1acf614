"""The predict -> feedback loop through the HTTP API, for each task."""

from __future__ import annotations


def test_classification_predict_and_feedback(server) -> None:
    r = server.client.post("/v1/models/intents/predict", json={"inputs": ["where is my parcel", "refund please"]},
                           headers=server.headers("predict"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "intents" and body["version"] == 1 and body["task"] == "classification"
    first = body["predictions"][0]
    assert set(first) == {"id", "label", "score", "probabilities"}
    assert abs(sum(first["probabilities"].values()) - 1) < 1e-3
    logged = server.store.get_prediction(first["id"])
    assert logged["text"] == "where is my parcel" and logged["output"]["label"] == first["label"]
    fb = server.client.post("/v1/feedback", json={"prediction_id": first["id"], "label": first["label"]},
                            headers=server.headers("feedback"))
    assert fb.status_code == 201, fb.text
    assert fb.json()["correct"] is True


def test_multilabel_and_ner_outputs(server) -> None:
    r = server.client.post("/v1/models/tags/predict", json={"inputs": ["refund the charge now please"]},
                           headers=server.headers("predict"))
    assert r.status_code == 200 and "labels" in r.json()["predictions"][0]
    text = "Alice visited Paris today"
    r = server.client.post("/v1/models/entities/predict", json={"inputs": [text]}, headers=server.headers("predict"))
    assert r.status_code == 200, r.text
    for span in r.json()["predictions"][0]["spans"]:
        assert text[span["start"]:span["end"]] == span["text"]
