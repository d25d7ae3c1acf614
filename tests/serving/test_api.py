"""The HTTP API through FastAPI's TestClient: routing, error shapes, auth, rate limits, usage, aliases, A/B splits,
feedback reports, metrics, health, logging, OpenAPI, CORS and registration."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

PREDICT = "/v1/models/{}/predict"
TEXT = "where is my parcel"


def predict(server: Any, model: str = "intents", inputs: Any = None, *, scope: str = "predict",
            headers: dict[str, str] | None = None, **body: Any) -> Any:
    payload = {"inputs": [TEXT] if inputs is None else inputs, **body}
    return server.client.post(PREDICT.format(model), json=payload, headers={**server.headers(scope), **(headers or {})})


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """A JSON error `{code, message, details}` with this status (and code)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["code"], str) and body["message"] and isinstance(body["message"], str)
    assert isinstance(body["details"], dict)
    if code is not None:
        assert body["code"] == code, body
    return body


def samples(server: Any, metric: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample named `metric` in /metrics."""
    response = server.client.get("/metrics", headers=server.headers())
    assert response.status_code == 200
    return [(s.labels, s.value) for family in text_string_to_metric_families(response.text)
            for s in family.samples if s.name == metric]


# ---- predict and routing ---------------------------------------------------------------------------------------


def test_predict_by_version_and_alias(server) -> None:
    for ref, version in (("intents", 1), ("intents@2", 2), ("intents@1", 1), ("intents@production", 1)):
        r = predict(server, ref, [TEXT, "refund please"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["model"], body["version"], body["task"]) == ("intents", version, "classification")
        assert len(body["predictions"]) == 2
        assert body["predictions"][0]["label"] in {"refund", "shipping", "password"}
        assert len({p["id"] for p in body["predictions"]}) == 2
        assert server.store.get_prediction(body["predictions"][1]["id"])["version"] == version


def test_predict_outputs_per_task(server) -> None:
    r = predict(server, "tags", ["refund the charge now please"])
    assert r.status_code == 200, r.text
    assert r.json()["task"] == "multilabel"
    first = r.json()["predictions"][0]
    assert set(first) == {"id", "labels", "scores"} and set(first["labels"]) <= set(first["scores"])
    r = predict(server, "entities", ["Alice visited Paris today"])
    assert r.status_code == 200, r.text
    assert r.json()["task"] == "ner" and set(r.json()["predictions"][0]) == {"id", "spans"}


def test_predict_unknown_model_version_alias(server) -> None:
    for ref, message in (("nope", "no model"), ("intents@9", "no version 9"), ("intents@canary", "no alias"),
                         ("nope@1", "no model"), ("intents@0", "no version")):
        body = assert_error(predict(server, ref), 404, "not_found")
        assert message in body["message"], (ref, body)


def test_predict_invalid_model_names_are_4xx(server) -> None:
    for path in ("/v1/models/%2E%2E/predict", "/v1/models/A%20B/predict", "/v1/models/../predict",
                 "/v1/models/Intents/predict", "/v1/models/intents@/predict", "/v1/models/intents@Prod/predict",
                 "/v1/models/a%2Fb/predict", "/v1/models/" + "x" * 70 + "/predict", "/v1/models/%00/predict"):
        r = server.client.post(path, json={"inputs": [TEXT]}, headers=server.headers("predict"))
        assert 400 <= r.status_code < 500, (path, r.text)
        assert_error(r, r.status_code)


def test_predict_with_a_unicode_digit_version_is_4xx(server) -> None:
    r = predict(server, "intents@²")
    assert 400 <= r.status_code < 500


def test_huge_versions_are_4xx_not_500(server) -> None:
    r = server.client.get("/v1/models/intents/versions/99999999999999999999", headers=server.headers())
    assert_error(r, 422, "invalid_request")  # out of the version range: refused by the schema
    r = server.client.post("/v1/models/intents@99999999999999999999/predict", json={"inputs": ["x"]},
                           headers=server.headers())
    assert_error(r, 404, "not_found")


def test_show_model_and_version(server) -> None:
    r = server.client.get("/v1/models/intents", headers=server.headers("predict"))
    assert r.status_code == 200
    assert [v["version"] for v in r.json()["versions"]] == [1, 2] and r.json()["aliases"] == {"production": 1}
    r = server.client.get("/v1/models/intents/versions/2", headers=server.headers("predict"))
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["manifest"]["task"] == "classification"
    assert_error(server.client.get("/v1/models/intents/versions/7", headers=server.headers()), 404, "not_found")
    assert_error(server.client.get("/v1/models/nope", headers=server.headers()), 404, "not_found")
    names = [m["name"] for m in server.client.get("/v1/models", headers=server.headers("predict")).json()["models"]]
    assert names == ["entities", "intents", "tags"]


# ---- request validation and limits -----------------------------------------------------------------------------


def test_request_body_errors(make_server) -> None:
    server = make_server(max_texts=3, max_chars=40)
    h = {**server.headers("predict"), "content-type": "application/json"}
    url = PREDICT.format("intents")

    assert_error(predict(server, inputs=[]), 422, "invalid_request")
    assert_error(predict(server, inputs="just one text"), 422, "invalid_request")
    assert_error(predict(server, inputs=["ok", 5]), 422, "invalid_request")
    assert_error(predict(server, inputs=[None]), 422, "invalid_request")
    body = assert_error(predict(server, surprise=True), 422, "invalid_request")
    assert any("surprise" in e["location"] for e in body["details"]["errors"])
    assert_error(predict(server, caller_id="c" * 129), 422, "invalid_request")
    assert_error(server.client.post(url, headers=server.headers("predict")), 422, "invalid_request")
    assert_error(server.client.post(url, content=b"{not json", headers=h), 422, "invalid_request")
    assert_error(server.client.post(url, content=b"[1, 2]", headers=h), 422, "invalid_request")
    body = assert_error(server.client.post(url, content='{"inputs": ["caf\xe9"]}'.encode("latin-1"), headers=h),
                        400, "invalid_encoding")
    assert "UTF-8" in body["message"]

    body = assert_error(predict(server, inputs=["a", "b", "c", "d"]), 400, "usage_error")
    assert "limit is 3" in body["message"] and body["details"]["hint"]
    assert predict(server, inputs=["a", "b", "c"]).status_code == 200
    body = assert_error(predict(server, inputs=["short", "x" * 41]), 400, "usage_error")
    assert "[1]" in body["message"]
    assert predict(server, inputs=["x" * 40]).status_code == 200
    assert_error(predict(server, inputs=["fine", "   "]), 400, "usage_error")


def test_oversized_bodies_are_413(make_server) -> None:
    server = make_server(max_body_bytes=200)
    body = assert_error(predict(server, inputs=["y" * 300]), 413, "payload_too_large")
    assert "200 bytes" in body["message"]
    assert predict(server, inputs=["small"]).status_code == 200

    def chunks() -> Any:  # no Content-Length: the middleware has to count while reading
        yield b'{"inputs": ["'
        for _ in range(10):
            yield b"z" * 50
        yield b'"]}'

    r = server.client.post(PREDICT.format("intents"), content=chunks(),
                           headers={**server.headers("predict"), "content-type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def test_unknown_route_and_method_are_json(server) -> None:
    assert_error(server.client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(server.client.get(PREDICT.format("intents"), headers=server.headers()), 405, "method_not_allowed")


# ---- auth ------------------------------------------------------------------------------------------------------


def test_missing_or_bad_keys_are_401(server) -> None:
    admin_token = server.keys["admin"]
    key_id = admin_token.split("_")[1]
    wrong_secret = f"tl_{key_id}_{'A' * 32}"
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer not-a-key"}, {"Authorization": "Bearer tl__x"},
                    {"Authorization": f"Bearer {wrong_secret}"}, {"Authorization": "Bearer tl_000000000000_secret"},
                    {"X-API-Key": wrong_secret}):
        r = server.client.post(PREDICT.format("intents"), json={"inputs": [TEXT]}, headers=headers)
        assert_error(r, 401, "unauthorized")
        assert wrong_secret not in r.text and "A" * 32 not in r.text  # a presented key is never echoed
    assert "malformed" in assert_error(server.client.get("/v1/models", headers={"Authorization": "Bearer nope"}),
                                       401)["message"]
    r = server.client.post(PREDICT.format("intents"), json={"inputs": [TEXT]}, headers={"X-API-Key": admin_token})
    assert r.status_code == 200, r.text


def test_scopes(server) -> None:
    assert_error(server.client.get("/v1/keys", headers=server.headers("predict")), 403, "forbidden")
    assert_error(server.client.post("/v1/keys", json={"name": "x", "scopes": ["predict"]},
                                    headers=server.headers("predict")), 403, "forbidden")
    assert_error(predict(server, scope="feedback"), 403, "forbidden")
    assert_error(server.client.put("/v1/models/intents/aliases/production", json={"version": 2},
                                   headers=server.headers("predict")), 403, "forbidden")
    assert_error(server.client.get("/v1/models/intents/ab-report", headers=server.headers("feedback")), 403)
    pid = predict(server).json()["predictions"][0]["id"]
    assert_error(server.client.post("/v1/feedback", json={"prediction_id": pid, "thumb": 1},
                                    headers=server.headers("predict")), 403, "forbidden")
    assert server.client.post("/v1/feedback", json={"prediction_id": pid, "thumb": 1},
                              headers=server.headers("feedback")).status_code == 201
    # admin implies every scope
    assert predict(server, scope="admin").status_code == 200
    assert server.client.post("/v1/feedback", json={"prediction_id": pid, "thumb": -1},
                              headers=server.headers("admin")).status_code == 201
    assert server.client.get("/v1/keys", headers=server.headers("admin")).status_code == 200
    assert server.client.get("/v1/predictions", headers=server.headers("admin")).status_code == 200


def test_revoked_key_is_refused_at_once(server) -> None:
    r = server.client.post("/v1/keys", json={"name": "partner", "scopes": ["predict"]}, headers=server.headers())
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["key"].startswith(f"tl_{created['id']}_") and created["scopes"] == ["predict"]
    theirs = {"Authorization": f"Bearer {created['key']}"}
    assert server.client.post(PREDICT.format("intents"), json={"inputs": [TEXT]}, headers=theirs).status_code == 200
    listed = server.client.get("/v1/keys", headers=server.headers()).json()["keys"]
    assert created["key"] not in json.dumps(listed)  # never the key itself

    r = server.client.delete(f"/v1/keys/{created['id']}", headers=server.headers())
    assert r.status_code == 200 and r.json()["revoked_at"]
    # the key was cached by the request above: revoking through the API must drop it from the cache
    assert_error(server.client.post(PREDICT.format("intents"), json={"inputs": [TEXT]}, headers=theirs), 401,
                 "unauthorized")
    assert_error(server.client.delete("/v1/keys/nope", headers=server.headers()), 404, "not_found")
    assert_error(server.client.post("/v1/keys", json={"name": "partner", "scopes": ["predict"]},
                                    headers=server.headers()), 409, "conflict")
    assert_error(server.client.post("/v1/keys", json={"name": "p2", "scopes": ["root"]},
                                    headers=server.headers()), 422, "invalid_request")


# ---- rate limits and usage -------------------------------------------------------------------------------------


def test_per_key_rate_limit(server) -> None:
    assert predict(server).status_code == 200  # load the model first: a slow first request would refill the bucket
    _, token = server.store.create_key("limited", "predict", rate_per_s=1, burst=2)
    headers = {"Authorization": f"Bearer {token}"}
    codes = [server.client.post(PREDICT.format("intents"), json={"inputs": [TEXT]}, headers=headers)
             for _ in range(3)]
    assert [r.status_code for r in codes[:2]] == [200, 200]
    body = assert_error(codes[2], 429, "rate_limited")
    assert 0 < body["details"]["retry_after"] <= 1.0
    assert codes[2].headers["Retry-After"] == "1"
    # other keys have their own buckets
    assert predict(server).status_code == 200


def test_rate_limited_and_forbidden_errors_are_counted_per_key(server) -> None:
    _, token = server.store.create_key("limited", "predict", rate_per_s=1, burst=1)
    for _ in range(2):
        r = server.client.get("/v1/models", headers={"Authorization": f"Bearer {token}"})
    assert_error(r, 429, "rate_limited")
    errors = {(labels["code"], labels["key"]): v for labels, v in samples(server, "tunelab_errors_total")}
    assert errors.get(("rate_limited", "limited")) == 1


def test_key_with_own_rate_but_no_burst_works(make_server) -> None:
    server = make_server(rate_per_s=0)
    r = server.client.post("/v1/keys", json={"name": "own-rate", "scopes": ["predict"], "rate_per_s": 5},
                           headers=server.headers())
    assert r.status_code == 201, r.text
    r = server.client.post(PREDICT.format("intents"), json={"inputs": [TEXT]},
                           headers={"Authorization": f"Bearer {r.json()['key']}"})
    assert r.status_code == 200, r.text


def test_usage_counters(server) -> None:
    key_id = server.keys["predict"].split("_")[1]
    for _ in range(3):
        assert predict(server, inputs=[TEXT, "refund please"]).status_code == 200
    assert_error(predict(server, "nope"), 404)
    r = server.client.get("/v1/keys", headers=server.headers())
    assert r.status_code == 200
    usage = next(k for k in r.json()["keys"] if k["id"] == key_id)["usage"]
    assert (usage["requests"], usage["texts"], usage["errors"]) == (3, 6, 1)
    assert usage["tokens"] >= 6 and usage["last_used_at"]
    one = server.client.get(f"/v1/keys/{key_id}", headers=server.headers()).json()
    assert one["usage"]["requests"] == 3 and one["name"].startswith("k-predict")
    assert "hash" not in one


# ---- aliases ---------------------------------------------------------------------------------------------------


def test_promote_and_rollback(server) -> None:
    admin = server.headers()
    r = server.client.put("/v1/models/intents/aliases/production", json={"version": 2}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert predict(server).json()["version"] == 2  # the route cache was invalidated
    assert predict(server, "intents@production").json()["version"] == 2

    r = server.client.post("/v1/models/intents/aliases/production/rollback", headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 1
    assert predict(server).json()["version"] == 1
    history = server.client.get("/v1/models/intents/aliases", headers=server.headers("predict")).json()
    assert history["aliases"] == {"production": 1}
    assert [(h["version"], h["previous_version"]) for h in history["history"]] == [(1, None), (2, 1), (1, 2)]
    assert history["history"][1]["actor"].startswith("k-admin")

    assert_error(server.client.post("/v1/models/intents/aliases/staging/rollback", headers=admin), 404)
    server.client.put("/v1/models/intents/aliases/staging", json={"version": 2}, headers=admin)
    assert_error(server.client.post("/v1/models/intents/aliases/staging/rollback", headers=admin), 409, "conflict")
    assert_error(server.client.put("/v1/models/intents/aliases/production", json={"version": 5}, headers=admin),
                 404)
    assert_error(server.client.put("/v1/models/intents/aliases/production", json={"version": 0}, headers=admin),
                 422)
    assert_error(server.client.put("/v1/models/intents/aliases/Bad%20Alias", json={"version": 1}, headers=admin),
                 400, "usage_error")


# ---- A/B splits ------------------------------------------------------------------------------------------------


def put_split(server: Any, weights: dict[str, float]) -> Any:
    return server.client.put("/v1/models/intents/split", json={"weights": weights}, headers=server.headers())


def versions_for(server: Any, callers: list[str]) -> list[int]:
    """The version each caller gets (requests sent from a few threads: they share forward passes)."""
    def one(caller: str) -> int:
        r = predict(server, inputs=["hi"], caller_id=caller)
        assert r.status_code == 200, r.text
        return r.json()["version"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, callers))


def routed(server: Any, callers: list[str]) -> list[int]:
    """The version the server's router picks for each caller (what predict uses), without a forward pass."""
    from tunelab.registry import ModelRef

    return [server.state.routes.resolve(ModelRef("intents"), caller).version for caller in callers]


def test_split_is_sticky_and_weighted(server) -> None:
    r = put_split(server, {"1": 0.5, "2": 0.5})
    assert r.status_code == 200 and r.json() == {"weights": {"1": 0.5, "2": 0.5}}
    assert server.client.get("/v1/models/intents/split", headers=server.headers()).json() == r.json()

    assert len(set(versions_for(server, ["same-user"] * 20))) == 1
    callers = [f"user-{i}" for i in range(400)]
    # the share over 400 callers is taken from the router; HTTP answers agree with it caller by caller
    even = routed(server, callers)
    assert 0.4 <= even.count(2) / len(even) <= 0.6, even.count(2)
    assert versions_for(server, callers[:40]) == even[:40]
    assert routed(server, callers) == even  # sticky

    # the alias and explicit versions ignore the split
    assert predict(server, "intents@production", caller_id="user-1").json()["version"] == 1
    assert predict(server, "intents@2", caller_id="user-1").json()["version"] == 2

    assert put_split(server, {"1": 0.9, "2": 0.1}).status_code == 200
    skewed = routed(server, callers)
    assert 0.05 <= skewed.count(2) / len(skewed) <= 0.15, skewed.count(2)
    sample = [c for c, v in zip(callers, skewed) if v == 2][:10] + callers[:20]
    assert versions_for(server, sample) == routed(server, sample)
    # lowering version 2's weight only moves callers from 2 to 1, never the other way
    assert all(before == 2 for before, after in zip(even, skewed) if after == 2)

    assert put_split(server, {"1": 0.0, "2": 1.0}).status_code == 200
    assert set(routed(server, callers)) == {2}
    assert set(versions_for(server, callers[:10])) == {2}

    assert put_split(server, {}).json() == {"weights": {}}
    assert set(routed(server, callers)) == {1}  # back to production
    assert set(versions_for(server, callers[:10])) == {1}


def test_split_header_caller_id(server) -> None:
    put_split(server, {"1": 0.5, "2": 0.5})
    by_body = {c: predict(server, caller_id=c).json()["version"] for c in (f"c{i}" for i in range(16))}
    assert set(by_body.values()) == {1, 2}
    for caller, version in by_body.items():
        assert predict(server, headers={"X-Caller-Id": caller}).json()["version"] == version
    # the body wins over the header
    one = next(c for c, v in by_body.items() if v == 1)
    two = next(c for c, v in by_body.items() if v == 2)
    assert predict(server, caller_id=one, headers={"X-Caller-Id": two}).json()["version"] == 1
    # the caller id is logged with the prediction
    pid = predict(server, headers={"X-Caller-Id": two}).json()["predictions"][0]["id"]
    assert server.store.get_prediction(pid)["caller"] == two


def test_split_validation(server) -> None:
    assert_error(put_split(server, {"1": -1.0, "2": 2.0}), 400, "usage_error")
    assert_error(put_split(server, {"1": 0.0}), 400, "usage_error")
    assert_error(put_split(server, {"one": 1.0}), 400, "usage_error")
    assert_error(put_split(server, {"1.5": 1.0}), 400, "usage_error")
    assert_error(put_split(server, {"3": 1.0}), 404, "not_found")
    assert_error(server.client.put("/v1/models/nope/split", json={"weights": {}}, headers=server.headers()), 404)
    assert_error(server.client.put("/v1/models/intents/split", json={"weights": {"1": "heavy"}},
                                   headers=server.headers()), 422)
    assert server.store.get_split("intents") == {}


def test_split_rejects_infinite_weight(server) -> None:
    r = server.client.put("/v1/models/intents/split", content=b'{"weights": {"1": 1e400, "2": 1}}',
                          headers={**server.headers(), "content-type": "application/json"})
    assert 400 <= r.status_code < 500
    assert predict(server).status_code == 200


def test_feedback_feeds_the_ab_report(server) -> None:
    put_split(server, {"1": 0.5, "2": 0.5})
    served: dict[int, list[dict]] = {1: [], 2: []}
    for i in range(24):
        body = predict(server, caller_id=f"fb-{i}").json()
        served[body["version"]].append(body["predictions"][0])
    assert served[1] and served[2]
    fb = server.headers("feedback")
    for p in served[1]:  # version 1: always right
        r = server.client.post("/v1/feedback", json={"prediction_id": p["id"], "label": p["label"]}, headers=fb)
        assert r.status_code == 201 and r.json()["correct"] is True
    for p in served[2]:  # version 2: always wrong
        wrong = next(label for label in ("refund", "shipping", "password") if label != p["label"])
        r = server.client.post("/v1/feedback", json={"prediction_id": p["id"], "label": wrong}, headers=fb)
        assert r.status_code == 201 and r.json()["correct"] is False
    p = served[2][0]  # a comment only: not a judgement, counts nothing
    assert server.client.post("/v1/feedback", json={"prediction_id": p["id"], "comment": "hm"},
                              headers=fb).json()["correct"] is None

    r = server.client.get("/v1/models/intents/ab-report", params={"min_samples": 1}, headers=server.headers())
    assert r.status_code == 200, r.text
    report = r.json()
    arms = {a["version"]: a for a in report["arms"]}
    assert set(arms) == {1, 2}
    assert (arms[1]["n"], arms[1]["correct"], arms[1]["accuracy"]) == (len(served[1]), len(served[1]), 1.0)
    assert (arms[2]["n"], arms[2]["accuracy"]) == (len(served[2]), 0.0)
    assert arms[1]["weight"] == 0.5 and report["best_version"] == 1 and report["message"]
    assert_error(server.client.get("/v1/models/intents/ab-report", params={"alpha": 2}, headers=server.headers()),
                 422)


def test_feedback_validation(server) -> None:
    pid = predict(server).json()["predictions"][0]["id"]
    fb = server.headers("feedback")
    assert_error(server.client.post("/v1/feedback", json={"prediction_id": "nope", "thumb": 1}, headers=fb), 404)
    assert_error(server.client.post("/v1/feedback", json={"prediction_id": pid}, headers=fb), 400, "usage_error")
    assert_error(server.client.post("/v1/feedback", json={"prediction_id": pid, "thumb": 0}, headers=fb), 422)
    assert_error(server.client.post("/v1/feedback", json={"prediction_id": pid, "thumb": 1, "x": 1}, headers=fb),
                 422)
    shown = server.client.get(f"/v1/predictions/{pid}", headers=server.headers()).json()
    assert shown["id"] == pid and shown["feedback"] == []


def test_feedback_with_wrong_label_shape_is_4xx(server) -> None:
    pid = predict(server, "entities", ["Alice visited Paris today"]).json()["predictions"][0]["id"]
    r = server.client.post("/v1/feedback", json={"prediction_id": pid, "label": "PER"},
                           headers=server.headers("feedback"))
    assert 400 <= r.status_code < 500


def test_ner_feedback_with_spans(server) -> None:
    text = "Alice visited Paris today"
    prediction = predict(server, "entities", [text]).json()["predictions"][0]
    spans = [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in prediction["spans"]]
    r = server.client.post("/v1/feedback", json={"prediction_id": prediction["id"], "label": spans},
                           headers=server.headers("feedback"))
    assert r.status_code == 201, r.text
    assert r.json()["correct"] is True
    other = [{"start": 0, "end": 5, "label": "ORG"}, {"start": 6, "end": 13, "label": "ORG"}]
    r = server.client.post("/v1/feedback", json={"prediction_id": prediction["id"], "label": other},
                           headers=server.headers("feedback"))
    assert r.status_code == 201 and r.json()["correct"] is False


# ---- metrics, health, logging, OpenAPI, CORS -------------------------------------------------------------------


def test_metrics(server) -> None:
    assert predict(server, inputs=[TEXT, "refund please"]).status_code == 200
    assert_error(predict(server, "nope"), 404)
    assert_error(server.client.get("/v1/keys"), 401)

    requests = samples(server, "tunelab_requests_total")
    ok = [v for labels, v in requests if labels == {"route": "/v1/models/{name}/predict", "method": "POST",
                                                    "status": "200"}]
    assert ok == [1.0]
    assert any(labels["status"] == "404" for labels, _ in requests)

    batches = {s: v for s, v in ((labels.get("le"), v) for labels, v in samples(server, "tunelab_batch_size_bucket")
                                 if labels.get("model") == "intents")}
    assert batches["1.0"] == 0 and batches["2.0"] == 1  # one forward pass of 2 texts
    assert samples(server, "tunelab_batch_size_count")[0][1] == 1

    key_name = server.store.get_key(server.keys["predict"].split("_")[1]).name
    per_key = samples(server, "tunelab_predict_requests_total")
    assert per_key == [({"model": "intents", "version": "1", "key": key_name}, 1.0)]
    texts = samples(server, "tunelab_predict_texts_total")
    assert texts == [({"model": "intents", "version": "1", "key": key_name}, 2.0)]
    errors = {(labels["code"], labels["key"]): v for labels, v in samples(server, "tunelab_errors_total")}
    assert errors[("not_found", key_name)] == 1
    assert errors[("unauthorized", "anonymous")] == 1
    assert samples(server, "tunelab_models_loaded")[0][1] == 1


def test_health_and_ready(server) -> None:
    from tunelab.registry.db import current_revision

    r = server.client.get("/v1/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-content-type-options"] == "nosniff"
    r = server.client.get("/v1/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and body["db"] == "sqlite"
    assert body["schema"] == current_revision(server.store.engine) and body["schema"]
    assert "models_loaded" not in body  # readiness is public: it names nothing the server holds
    status = server.client.get("/v1/status", headers=server.headers())
    assert status.status_code == 200 and status.json()["models_loaded"] == []
    assert server.client.get("/v1/status", headers=server.headers("predict")).status_code == 403
    predict(server, "intents@2")
    assert server.client.get("/v1/status", headers=server.headers()).json()["models_loaded"] == ["intents@2 (torch)"]


def test_ready_on_postgresql(pg_url: str, make_server) -> None:
    server = make_server(db_url=pg_url)
    r = server.client.get("/v1/ready")
    assert r.status_code == 200 and r.json()["db"] == "postgresql"
    r = predict(server, "intents@2")
    assert r.status_code == 200, r.text
    assert server.store.get_prediction(r.json()["predictions"][0]["id"])["version"] == 2


def test_log_text_off_keeps_only_the_hash(make_server) -> None:
    server = make_server(log_text=False)
    r = predict(server, inputs=["my secret parcel 1234"])
    assert r.status_code == 200
    logged = server.store.get_prediction(r.json()["predictions"][0]["id"])
    assert logged["text"] is None
    assert logged["text_hash"] == hashlib.sha256(b"my secret parcel 1234").hexdigest()
    assert logged["key_id"] == server.keys["predict"].split("_")[1]
    listed = server.client.get("/v1/predictions", params={"model": "intents"}, headers=server.headers()).json()
    assert "my secret parcel" not in json.dumps(listed)


def test_log_text_on_by_default(server) -> None:
    r = predict(server, inputs=["naïve café"])
    logged = server.store.get_prediction(r.json()["predictions"][0]["id"])
    assert logged["text"] == "naïve café" and logged["output"]["label"] == r.json()["predictions"][0]["label"]


def test_openapi_lists_the_api(server) -> None:
    r = server.client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "post" in paths["/v1/models/{name}/predict"]
    assert {"/v1/feedback", "/v1/keys", "/v1/models/{name}/split", "/v1/health"} <= set(paths)


def test_cors_is_off_by_default(server) -> None:
    r = server.client.get("/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = server.client.options(PREDICT.format("intents"), headers={"Origin": "https://evil.example",
                                                                 "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_when_configured(make_server) -> None:
    server = make_server(cors_origins="https://app.example")
    r = server.client.get("/v1/health", headers={"Origin": "https://app.example"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = server.client.get("/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


# ---- registration ----------------------------------------------------------------------------------------------


def test_register_through_the_api(server, served_runs: dict[str, Path]) -> None:
    r = server.client.post("/v1/models/fresh/versions", json={"run_path": str(served_runs["intents_b"]),
                                                              "alias": "production", "description": "new"},
                           headers=server.headers())
    assert r.status_code == 201, r.text
    assert (r.json()["model"], r.json()["version"], r.json()["aliases"]) == ("fresh", 1, ["production"])
    assert predict(server, "fresh").json()["version"] == 1
    r = server.client.post("/v1/models/intents/versions", json={"run_path": str(served_runs["intents_b"])},
                           headers=server.headers())
    assert r.status_code == 201 and r.json()["version"] == 3
    assert predict(server, "intents@3").status_code == 200  # the route cache saw the new version

    assert_error(server.client.post("/v1/models/fresh/versions", json={"run_path": str(served_runs["ner"])},
                                    headers=server.headers("predict")), 403)
    assert_error(server.client.post("/v1/models/Bad/versions", json={"run_path": str(served_runs["ner"])},
                                    headers=server.headers()), 400, "usage_error")
    missing = str(served_runs["intents_a"].parent / "no-such-run")  # inside the runs folder, not a run
    assert_error(server.client.post("/v1/models/fresh/versions", json={"run_path": missing},
                                    headers=server.headers()), 409, "artifact_error")
    assert_error(server.client.post("/v1/models/fresh/versions", json={"run_path": "/no/such/run"},
                                    headers=server.headers()), 400, "usage_error")  # outside it


def test_register_outside_runs_root_is_refused(make_server, served_runs: dict[str, Path], tmp_path: Path) -> None:
    elsewhere = tmp_path / "allowed-runs"
    elsewhere.mkdir()
    server = make_server(runs_root=str(elsewhere))
    for path in (str(served_runs["intents_a"]), f"{elsewhere}/../{served_runs['intents_a']}",
                 str(elsewhere / ".." / "registry.db")):
        body = assert_error(server.client.post("/v1/models/fresh/versions", json={"run_path": path},
                                               headers=server.headers()), 400, "usage_error")
        assert "runs folder" in body["message"]
    link = elsewhere / "sneaky"
    link.symlink_to(served_runs["intents_a"], target_is_directory=True)
    assert_error(server.client.post("/v1/models/fresh/versions", json={"run_path": str(link)},
                                    headers=server.headers()), 400, "usage_error")
    assert [m.name for m in server.store.list_models()] == ["entities", "intents", "tags"]

    inside = make_server(runs_root=str(served_runs["intents_a"].parent))
    r = inside.client.post("/v1/models/fresh/versions", json={"run_path": str(served_runs["intents_a"])},
                           headers=inside.headers())
    assert r.status_code == 201, r.text


def test_metrics_need_an_admin_key_unless_public(make_server) -> None:
    private = make_server()
    assert_error(private.client.get("/metrics"), 401, "unauthorized")
    assert_error(private.client.get("/metrics", headers=private.headers("predict")), 403, "forbidden")
    public = make_server(metrics_public=True)
    assert public.client.get("/metrics").status_code == 200


def test_models_load_lazily_under_an_lru_cap(make_server) -> None:
    server = make_server(max_models=1)
    assert server.state.models.loaded() == []
    for ref in ("intents@1", "intents@2", "intents@1"):
        r = server.client.post(f"/v1/models/{ref}/predict", json={"inputs": ["refund please"]},
                               headers=server.headers("predict"))
        assert r.status_code == 200
        assert server.state.models.loaded() == [ref]
    assert server.state.models.loads == 3 and server.state.models.evictions == 2


def test_no_key_reaches_the_logs(server, caplog) -> None:
    import logging

    token = server.keys["predict"]
    key_id, secret = token.split("_")[1], token.split("_", 2)[2]
    with caplog.at_level(logging.DEBUG):
        server.client.post("/v1/models/intents/predict", json={"inputs": ["hi"]}, headers=server.headers("predict"))
        server.client.post("/v1/models/intents/predict", json={"inputs": ["hi"]},
                           headers={"Authorization": f"Bearer tl_{key_id}_wrong{secret}"})
        server.client.get("/v1/keys", headers={"Authorization": "Bearer not-a-key-at-all"})
    assert secret not in caplog.text and "wrong" not in caplog.text and "not-a-key-at-all" not in caplog.text
