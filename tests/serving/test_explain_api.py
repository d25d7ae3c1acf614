"""`POST /v1/models/{name}/explain` and `explain: true` on predict: attributions with offsets into the text,
4xx JSON for an unknown model, label or method; the plain predict answer is unchanged; the SDK's typed calls."""

from __future__ import annotations

from typing import Any

from tests.conftest import INTENTS


def post(server: Any, path: str, body: dict[str, Any], scope: str = "predict") -> Any:
    return server.client.post(path, json=body, headers=server.headers(scope))


def test_explain_route(server: Any) -> None:
    text = INTENTS["refund"][1]
    response = post(server, "/v1/models/intents/explain", {"text": text})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["task"], body["text"]) == ("intents", 1, "classification", text)
    (explanation,) = body["explanations"]
    predicted = post(server, "/v1/models/intents/predict", {"inputs": [text]}).json()["predictions"][0]
    assert explanation["label"] == predicted["label"]
    assert explanation["probability"] == round(predicted["score"], 6)
    assert explanation["method"] == "ig" and explanation["delta"] is not None
    assert [w["text"] for w in explanation["words"]] == text.split()
    assert all(text[w["start"]:w["end"]] == w["text"] for w in explanation["words"] + explanation["tokens"])
    other = post(server, "/v1/models/intents@2/explain", {"text": text, "label": "shipping", "method": "grad"})
    assert other.status_code == 200 and other.json()["version"] == 2
    assert other.json()["explanations"][0]["label"] == "shipping" and other.json()["explanations"][0]["delta"] is None


def test_explain_ner_and_multilabel(server: Any) -> None:
    ner = post(server, "/v1/models/entities/explain", {"text": "Alice visited Paris today", "method": "grad"})
    assert ner.status_code == 200, ner.text
    spans = [e["span"] for e in ner.json()["explanations"]]
    assert spans and all(s["text"] in ("Alice", "Paris") for s in spans)
    tags = post(server, "/v1/models/tags/explain", {"text": "please refund my order"})
    assert tags.status_code == 200 and {e["label"] for e in tags.json()["explanations"]} <= {"refund", "urgent",
                                                                                             "shipping", "password"}


def test_explain_errors_are_4xx_json(server: Any) -> None:
    unknown = post(server, "/v1/models/nope/explain", {"text": "hello"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    label = post(server, "/v1/models/intents/explain", {"text": "hello", "label": "sports"})
    assert label.status_code == 422 and label.json()["code"] == "unknown_label"
    assert set(label.json()["details"]["allowed"]) == set(INTENTS)
    method = post(server, "/v1/models/intents/explain", {"text": "hello", "method": "lime"})
    assert method.status_code == 422
    empty = post(server, "/v1/models/intents/explain", {"text": "   "})
    assert empty.status_code == 400 and "empty" in empty.json()["message"]
    refused = server.client.post("/v1/models/intents/explain", json={"text": "hello"})
    assert refused.status_code == 401


def test_predict_with_explain_flag(server: Any) -> None:
    texts = [INTENTS["shipping"][0], INTENTS["password"][1]]
    plain = post(server, "/v1/models/intents/predict", {"inputs": texts})
    assert plain.status_code == 200 and all("explanations" not in p for p in plain.json()["predictions"])
    explained = post(server, "/v1/models/intents/predict", {"inputs": texts, "explain": True,
                                                            "explain_method": "grad"})
    assert explained.status_code == 200, explained.text
    for text, prediction, before in zip(texts, explained.json()["predictions"], plain.json()["predictions"]):
        assert prediction["label"] == before["label"]
        (explanation,) = prediction["explanations"]
        assert explanation["label"] == prediction["label"] and explanation["method"] == "grad"
        assert [w["text"] for w in explanation["words"]] == text.split()
    logged = server.store.list_predictions(model="intents")
    assert len(logged) == 4 and all("explanations" not in row["output"] for row in logged)  # words never stored
    too_many = post(server, "/v1/models/intents/predict", {"inputs": ["hello"] * 17, "explain": True})
    assert too_many.status_code == 400 and "limit is 16" in too_many.json()["message"]


def test_sdk_calls_are_typed(server: Any) -> None:
    from tunelab import client as sdk
    from tunelab.serving.schemas import ExplainResponse, PredictResponse

    call = sdk.explain("intents", "track my delivery", label="shipping", method="grad", version=2)
    assert (call.method, call.path) == ("POST", "/v1/models/intents@2/explain")
    assert call.json == {"text": "track my delivery", "label": "shipping", "method": "grad", "steps": 32}
    result = call.parse(post(server, call.path, call.json).json())
    assert isinstance(result, ExplainResponse) and result.explanations[0].words[0].text == "track"
    predict = sdk.predict("intents", ["track my delivery"], explain=True, explain_method="grad")
    assert predict.json["explain"] is True and predict.json["explain_method"] == "grad"
    assert "explain" not in sdk.predict("intents", ["x"]).json
    parsed = predict.parse(post(server, predict.path, predict.json).json())
    assert isinstance(parsed, PredictResponse) and parsed.predictions[0].explanations
    assert sdk.Client.explain.build is sdk.explain
