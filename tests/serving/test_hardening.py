"""Issue 13, findings 7-12: Host and Origin checks (DNS rebinding, cross-site posts), no CDN docs by default,
slow request bodies, readiness that names nothing, and formulas neutralised in CSV exports. Each test failed
before its fix."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.serving.conftest import Served


def rollback(server: Served, **headers: str) -> Any:
    return server.client.post("/v1/models/intents/aliases/production/rollback", headers=headers)


def test_a_no_auth_server_answers_only_to_loopback_names(make_server: Any) -> None:
    server = make_server(auth=False)
    rebinding = server.client.get("/v1/models", headers={"Host": "attacker.example"})
    assert rebinding.status_code == 421 and rebinding.json()["code"] == "unknown_host"
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert server.client.get("/v1/models", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_restrict_an_authenticated_server_too(make_server: Any) -> None:
    server = make_server(allowed_hosts=("api.bank.example",))
    assert server.client.get("/v1/health", headers={"Host": "other.example"}).status_code == 421
    assert server.client.get("/v1/health", headers={"Host": "api.bank.example:443"}).status_code == 200


def test_cross_site_posts_are_refused_and_change_nothing(make_server: Any) -> None:
    server = make_server(auth=False, allowed_hosts=("testserver",))
    server.store.set_alias("intents", "production", 2)
    for headers in ({"Origin": "https://attacker.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        refused = rollback(server, **headers)
        assert refused.status_code == 403 and refused.json()["code"] == "cross_origin", headers
        assert server.store.get_model("intents").aliases["production"] == 2
    assert rollback(server, Origin="http://testserver").status_code == 200  # the server's own pages
    assert server.store.get_model("intents").aliases["production"] == 1
    server.store.set_alias("intents", "production", 2)
    assert rollback(server).status_code == 200  # scripts and the SDK send no Origin


def test_listed_cors_origins_may_post(make_server: Any) -> None:
    server = make_server(cors_origins=("https://app.bank.example",))
    headers = {**server.headers(), "Origin": "https://app.bank.example"}
    assert server.client.post("/v1/models/intents/aliases/production/rollback", headers=headers).status_code != 403
    headers["Origin"] = "https://attacker.example"
    assert server.client.post("/v1/models/intents/aliases/production/rollback", headers=headers).status_code == 403


def test_api_docs_are_off_unless_asked_for(make_server: Any) -> None:
    server = make_server()
    assert server.client.get("/docs").status_code == 404 and server.client.get("/redoc").status_code == 404
    assert server.client.get("/openapi.json").status_code == 200
    assert make_server(api_docs=True).client.get("/docs").status_code == 200


def test_readiness_names_no_model(server: Served) -> None:
    server.client.post("/v1/models/intents/predict", json={"inputs": ["hi"]}, headers=server.headers("predict"))
    assert "intents" not in server.client.get("/v1/ready").text


def test_a_body_that_never_arrives_is_refused_with_408() -> None:
    from tunelab.serving.middleware import LimitsMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the route must not run")

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(30)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    class State:
        services = None

    class App:
        state = State()

    scope = {"type": "http", "method": "POST", "headers": [], "path": "/v1/feedback", "app": App()}
    asyncio.run(asyncio.wait_for(LimitsMiddleware(app, 1000, timeout_s=0.2)(scope, receive, send), 5))
    assert sent[0]["status"] == 408


def test_csv_cells_that_spreadsheets_would_run_are_neutralised() -> None:
    from tunelab.data.spreadsheet import safe_cell, safe_row

    assert safe_row(["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "ok", 3]) == [
        "'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "ok", 3]
    assert safe_cell("refund") == "refund"


def test_feedback_labels_must_be_the_models_labels(server: Served) -> None:
    r = server.client.post("/v1/models/intents@1/predict", json={"inputs": ["refund please"]},
                           headers=server.headers("predict"))
    pid = r.json()["predictions"][0]["id"]
    bad = server.client.post("/v1/feedback", json={"prediction_id": pid, "label": "=cmd|' /C calc'!A0"},
                             headers=server.headers("feedback"))
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_label"
    assert bad.json()["details"]["allowed"] == list(server.store.get_version("intents", 1).labels)
    assert server.store.list_feedback(prediction_id=pid) == []
    label = server.store.get_version("intents", 1).labels[0]
    good = server.client.post("/v1/feedback", json={"prediction_id": pid, "label": label},
                              headers=server.headers("feedback"))
    assert good.status_code == 201
