"""The loop's stages in the server: a shadow challenger scores live requests after they are answered (its answers
kept by prediction id, the caller's response the champion's), a failing one only reaches the log, and a canary
answers its share of callers through the A/B split."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tunelab.loop.policy import LoopPolicy, PromotionPolicy
from tunelab.loop.records import STAGED, DecisionRow
from tunelab.loop.stages import Stage, seen, shadowed
from tunelab.loop.staging import begin_stage
from tunelab.serving.services import routing_changed

TEXTS = ["please refund my money", "where is my parcel", "reset my password now"]


def predict(server: Any, texts: list[str], name: str = "intents", caller: str = "c1") -> dict[str, Any]:
    response = server.client.post(f"/v1/models/{name}/predict", json={"inputs": texts, "caller_id": caller},
                                  headers=server.headers("predict"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def answers(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in p.items() if k != "id"} for p in body["predictions"]]


def stage(server: Any, kind: str, **rules: Any) -> Stage:
    """Stage intents v2 against the production v1, as the loop does after the golden set passed."""
    policy = LoopPolicy("intents", "golden.csv", promotion=PromotionPolicy(stage=kind, **rules))
    staged = DecisionRow(7, "intents", "production", 1, 2, STAGED, "passed", {}, "decision.json", 0,
                         datetime.now(UTC))
    opened = begin_stage(server.store, policy, staged)
    routing_changed(server.state)  # what the change watcher does when it sees the routing counter move
    return opened


def wait_shadowed(server: Any, opened: Stage, n: int) -> None:
    deadline = time.monotonic() + 60
    while seen(server.store, opened) < n and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_shadow_challenger_scores_live_requests_and_the_caller_gets_the_champions_answer(
        make_server: Any, served_runs: dict[str, Any], backend: str, request: pytest.FixtureRequest) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.serialize import prediction_to_dict

    server = make_server(db_url=request.getfixturevalue("pg_url") if backend == "postgresql" else None)
    before = predict(server, TEXTS)
    opened = stage(server, "shadow", stage_requests=3)

    body = predict(server, TEXTS)
    assert body["version"] == 1 and answers(body) == answers(before)  # the response is the champion's
    wait_shadowed(server, opened, len(TEXTS))
    rows = shadowed(server.store, opened)
    assert [r.prediction_id for r in rows] == [p["id"] for p in body["predictions"]]
    challenger = Predictor.load(served_runs["intents_b"]).predict(TEXTS)
    assert [r.challenger for r in rows] == [prediction_to_dict(p) for p in challenger]
    assert [r.champion for r in rows] == answers(body) and [r.text for r in rows] == TEXTS
    assert server.state.predictions.shadow.scored == 3 and server.state.predictions.shadow.failed == 0
    metrics = server.client.get("/metrics", headers=server.headers()).text
    assert 'tunelab_shadow_texts_total{model="intents",outcome="scored",version="2"} 3.0' in metrics

    predict(server, TEXTS[:1], name="intents@2")  # the challenger's own requests are not shadowed
    predict(server, TEXTS[:1], name="tags")  # nor another model's
    server.client.portal.call(server.state.predictions.shadow.drain)
    assert seen(server.store, opened) == 3


def test_a_shadow_share_scores_a_stable_sample_of_the_predictions(make_server: Any) -> None:
    from tunelab.serving.shadowing import sampled

    server = make_server()
    opened = stage(server, "shadow", stage_requests=10, shadow_share=0.5)
    assert opened.share == 0.5 and server.store.get_split("intents") in (None, {})  # a shadow sets no A/B split
    ids = [p["id"] for _ in range(4) for p in predict(server, TEXTS * 2)["predictions"]]
    server.client.portal.call(server.state.predictions.shadow.drain)
    expected = [i for i in ids if sampled(i, 0.5)]
    assert 0 < len(expected) < len(ids)  # 24 ids: all in or all out would be a broken hash (p < 1e-7)
    assert [r.prediction_id for r in shadowed(server.store, opened)] == expected
    assert all(sampled(i, 1.0) for i in ids) and not any(sampled(i, 1e-12) for i in ids)


class Broken:
    """A model cache whose challenger fails with the text in its message."""

    def load_path(self, folder: Any) -> Any:
        raise RuntimeError(f"cannot read {TEXTS[0]!r}")


def test_a_failing_shadow_challenger_is_logged_without_text_and_the_request_succeeds(
        make_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = make_server()
    before = predict(server, TEXTS)
    opened = stage(server, "shadow")
    shadow = server.state.predictions.shadow
    shadow.models = Broken()
    with caplog.at_level(logging.WARNING, logger="tunelab.serve.shadow"):
        body = predict(server, TEXTS)
        server.client.portal.call(shadow.drain)
    assert answers(body) == answers(before) and shadow.failed == 1 and seen(server.store, opened) == 0
    assert "shadow: challenger intents@2 failed on 3 text(s) (RuntimeError)" in caplog.text
    assert all(text not in caplog.text for text in TEXTS)


def test_shadow_work_beyond_the_cap_is_dropped_not_queued(make_server: Any) -> None:
    server = make_server()
    opened = stage(server, "shadow")
    shadow = server.state.predictions.shadow
    shadow.max_pending = 0
    predict(server, TEXTS)
    server.client.portal.call(shadow.drain)
    assert shadow.dropped == 1 and seen(server.store, opened) == 0


def test_a_canary_answers_its_share_of_callers_through_the_split(make_server: Any) -> None:
    server = make_server()
    opened = stage(server, "canary", canary_share=0.3)
    assert server.store.get_split("intents") == {1: 0.7, 2: 0.3}
    versions = [predict(server, TEXTS[:1], caller=f"caller-{i}")["version"] for i in range(60)]
    assert 6 <= versions.count(2) <= 30 and set(versions) == {1, 2}
    again = [predict(server, TEXTS[:1], caller=f"caller-{i}")["version"] for i in range(10)]
    assert again == versions[:10]  # sticky per caller
    assert predict(server, TEXTS[:1], name="intents@production", caller="caller-1")["version"] == 1
    server.client.portal.call(server.state.predictions.shadow.drain)
    assert seen(server.store, opened) == versions.count(2) + again.count(2)  # the canary's answered predictions
