"""The assistant over HTTP and the SDK: ask with a conversation id, feedback on an answer id, the hand-off
queue (list, resolve), registration, scopes and 4xx errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tunelab.apps.assistant.calibrate import NEVER
from tunelab.apps.assistant.store import AssistantStore


@pytest.fixture
def served(tmp_path: Path, built: Path) -> Any:
    """An app on a fresh SQLite registry with the built assistant registered and a key per scope."""
    from fastapi.testclient import TestClient

    from tests.serving.conftest import Served
    from tunelab.registry import Store
    from tunelab.serving import create_app, load_settings
    from tunelab.serving.services import build_services

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    store = Store(url)
    AssistantStore(store).register(built, "support")
    keys = {scope: store.create_key(f"k-{scope}", scope)[1] for scope in ("admin", "predict", "feedback")}
    runs_root = os.path.commonpath([tmp_path, built])  # the API registers only folders under the runs root
    settings = load_settings(env={}, db=url, precision="fp32", max_wait_ms=1.0, runs_root=runs_root)
    with TestClient(create_app(settings, build_services(settings, store))) as client:
        yield Served(client, store, client.app.state.services, keys)


def force_handoffs(server: Any) -> None:
    """Make every answer a hand-off (thresholds nobody reaches) on the loaded assistant."""
    from tunelab.apps.assistant.calibrate import Thresholds

    desk = server.state.desk
    info = desk.assistants.get("support")
    desk.loaded(info).thresholds = Thresholds(NEVER, NEVER)


def test_ask_logs_an_answer_that_takes_feedback(served: Any) -> None:
    client, headers = served.client, served.headers("predict")
    first = client.post("/v1/assistants/support/ask", json={"question": "hello world"}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["route"] in ("intent", "faq", "handoff") and 0 <= body["confidence"] <= 1.0001
    assert {"evidence", "suggestions", "conversation_id", "id", "version"} <= set(body)
    second = client.post("/v1/assistants/support/ask", headers=headers,
                         json={"question": "i forgot my password", "conversation_id": body["conversation_id"]})
    assert second.json()["conversation_id"] == body["conversation_id"]
    feedback = client.post("/v1/feedback", json={"prediction_id": body["id"], "label": body["label"]},
                           headers=served.headers("feedback"))
    assert feedback.status_code == 201 and feedback.json()["correct"] is True
    turns = client.get(f"/v1/assistants/support/conversations/{body['conversation_id']}",
                       headers=served.headers("feedback")).json()["turns"]
    assert [t["id"] for t in turns] == [body["id"], second.json()["id"]]


def test_handoff_queue_over_the_sdk(served: Any) -> None:
    from tunelab.client import AssistantReply, Client, HandoffInfo

    force_handoffs(served)
    sdk = Client("http://testserver", served.keys["admin"])
    sdk._http.close()
    sdk._http = served.client  # the SDK over the in-process app (a TestClient is an httpx.Client)
    served.client.headers["authorization"] = f"Bearer {served.keys['admin']}"
    reply = sdk.ask("support", "can i pay with seashells")
    assert isinstance(reply, AssistantReply) and reply.route == "handoff" and reply.answer is None
    assert reply.handoff_id is not None and len(reply.suggestions) == 3
    queue = sdk.handoffs("support")
    assert [h.id for h in queue] == [reply.handoff_id] and isinstance(queue[0], HandoffInfo)
    assert queue[0].question == "can i pay with seashells" and len(queue[0].suggestions) == 3
    done = sdk.resolve_handoff("support", reply.handoff_id, "refund", reply="We take cards only.")
    assert done.status == "resolved" and done.label == "refund" and done.reply == "We take cards only."
    assert sdk.handoffs("support") == [] and len(sdk.handoffs("support", status="resolved")) == 1
    assert [a.name for a in sdk.assistants()] == ["support"]
    examples = AssistantStore(served.store).resolved_examples("support")
    assert examples == [("can i pay with seashells", "refund")]


def test_errors_are_4xx(served: Any, built: Path, tmp_path: Path) -> None:
    client = served.client
    ask = "/v1/assistants/support/ask"
    assert client.post(ask, json={"question": "hi"}).status_code == 401
    assert client.post(ask, json={"question": "hi"}, headers=served.headers("feedback")).status_code == 403
    for body in ({"question": ""}, {"question": "x" * 5000}, {"question": "hi", "extra": 1}, {}):
        response = client.post(ask, json=body, headers=served.headers("predict"))
        assert response.status_code == 422 and response.json()["code"] == "invalid_request"
    missing = client.post("/v1/assistants/nobody/ask", json={"question": "hi"}, headers=served.headers("predict"))
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad_name = client.post("/v1/assistants/Bad%20Name/ask", json={"question": "hi"}, headers=served.headers())
    assert bad_name.status_code == 400
    resolve = "/v1/assistants/support/handoffs/{}/resolve"
    assert client.post(resolve.format(7), json={"label": "refund"}, headers=served.headers()).status_code == 404
    assert client.post(resolve.format(2**40), json={"label": "refund"}, headers=served.headers()).status_code == 400
    force_handoffs(served)
    reply = client.post(ask, json={"question": "hmm"}, headers=served.headers()).json()
    wrong = client.post(resolve.format(reply["handoff_id"]), json={"label": "nope"}, headers=served.headers())
    assert wrong.status_code == 400 and "not an intent or FAQ id" in wrong.json()["message"]
    register = client.post("/v1/assistants/support/versions", json={"path": str(tmp_path)}, headers=served.headers())
    assert register.status_code == 409  # not a built assistant (incomplete)
    ok = client.post("/v1/assistants/support/versions", json={"path": str(built)}, headers=served.headers())
    assert ok.status_code == 201 and ok.json()["version"] == 2
    forbidden = client.post("/v1/assistants/support/versions", json={"path": str(built)},
                            headers=served.headers("predict"))
    assert forbidden.status_code == 403


def test_ask_evidence_carries_the_out_of_scope_score(served: Any) -> None:
    client, headers = served.client, served.headers("predict")
    for question in ("please refund my order", "can i pay with seashells"):
        body = client.post("/v1/assistants/support/ask", json={"question": question}, headers=headers).json()
        ood = body["evidence"]["out_of_scope"]
        assert ood["method"] == "combined" and isinstance(ood["threshold"], float)
        assert set(ood["components"]) == {"msp", "energy", "mahalanobis", "relative_mahalanobis", "knn",
                                            "nearest", "faq"}
        assert (body["route"] == "handoff") == (ood["score"] >= ood["threshold"])
