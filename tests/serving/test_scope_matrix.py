"""The scope matrix of docs/security.md, asserted over every /v1 route (from the OpenAPI schema, so a new route
that is not classified here fails the test): a caller without the needed scope gets 401 (no key) or 403 (a key
with too little), never a 2xx; a caller with it is not refused for want of a scope."""

from __future__ import annotations

import re
from typing import Any

import pytest

# (method, path) -> the scope it needs; "public" needs no key. Keep in step with docs/security.md.
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/v1/health"): "public",
    ("GET", "/v1/ready"): "public",
    ("GET", "/v1/status"): "admin",
    ("GET", "/metrics"): "admin",
    ("POST", "/v1/models/{name}/predict"): "predict",
    ("POST", "/v1/models/{name}/explain"): "predict",
    ("POST", "/v1/feedback"): "feedback",
    ("GET", "/v1/models"): "predict",
    ("GET", "/v1/models/{name}"): "predict",
    ("GET", "/v1/models/{name}/versions/{version}"): "predict",
    ("POST", "/v1/models/{name}/versions"): "admin",
    ("PUT", "/v1/models/{name}/aliases/{alias}"): "admin",
    ("POST", "/v1/models/{name}/aliases/{alias}/rollback"): "admin",
    ("GET", "/v1/models/{name}/aliases"): "predict",
    ("GET", "/v1/models/{name}/split"): "admin",
    ("PUT", "/v1/models/{name}/split"): "admin",
    ("GET", "/v1/models/{name}/ab-report"): "admin",
    ("GET", "/v1/predictions"): "admin",
    ("GET", "/v1/predictions/{prediction_id}"): "admin",
    ("GET", "/v1/feedback"): "admin",
    ("POST", "/v1/keys"): "admin",
    ("GET", "/v1/keys"): "admin",
    ("GET", "/v1/keys/{key_id}"): "admin",
    ("DELETE", "/v1/keys/{key_id}"): "admin",
    ("POST", "/v1/assistants/{name}/ask"): "predict",
    ("GET", "/v1/assistants"): "predict",
    ("GET", "/v1/assistants/{name}"): "predict",
    ("POST", "/v1/assistants/{name}/versions"): "admin",
    ("GET", "/v1/assistants/{name}/conversations/{conversation_id}"): "feedback",
    ("GET", "/v1/assistants/{name}/handoffs"): "feedback",
    ("POST", "/v1/assistants/{name}/handoffs/{handoff_id}/resolve"): "feedback",
    ("PUT", "/v1/monitors/{name}"): "admin",
    ("GET", "/v1/monitors"): "admin",
    ("GET", "/v1/monitors/{name}"): "admin",
    ("POST", "/v1/monitors/{name}/events"): "predict",
    ("GET", "/v1/monitors/{name}/alerts"): "predict",
    ("GET", "/v1/monitors/{name}/alerts/{alert_id}"): "predict",
    ("GET", "/v1/monitors/{name}/aggregates"): "predict",
    ("POST", "/v1/recommenders/{name}/versions"): "admin",
    ("GET", "/v1/recommenders"): "predict",
    ("GET", "/v1/recommenders/{name}"): "predict",
    ("POST", "/v1/recommenders/{name}/recommend"): "predict",
    ("POST", "/v1/recommenders/{name}/similar"): "predict",
    ("POST", "/v1/recommenders/{name}/events"): "feedback",
    ("PUT", "/v1/recommenders/{name}/items"): "admin",
    ("GET", "/v1/privacy/policies"): "admin",
    ("GET", "/v1/privacy/policies/{kind}/{name}"): "admin",
    ("PUT", "/v1/privacy/policies/{kind}/{name}"): "admin",
    ("DELETE", "/v1/privacy/policies/{kind}/{name}"): "admin",
}
ROLES = ("anonymous", "predict", "feedback", "admin")


def allowed(role: str, needed: str) -> bool:
    return needed == "public" or role == "admin" or role == needed


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0) in ("{version}", "{alert_id}", "{handoff_id}")
                  else "x", path)


def routes_of(app: Any) -> set[tuple[str, str]]:
    schema = app.openapi()
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item}


def test_every_route_is_classified(server: Any) -> None:
    found = routes_of(server.client.app) | {("GET", "/metrics")}
    assert found == set(MATRIX), f"classify these in MATRIX and docs/security.md: {found ^ set(MATRIX)}"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_routes(server: Any, role: str) -> None:
    headers = {} if role == "anonymous" else server.headers(role)
    wrong = []
    for (method, path), needed in sorted(MATRIX.items()):
        response = server.client.request(method, concrete(path), headers=headers,
                                         json={} if method in ("POST", "PUT") else None)
        refused = response.status_code in (401, 403)
        if allowed(role, needed) == refused or (not allowed(role, needed) and response.status_code < 300):
            wrong.append(f"{method} {path}: {response.status_code} for {role} (needs {needed})")
        if not allowed(role, needed):
            expected = 401 if role == "anonymous" else 403
            if response.status_code != expected:
                wrong.append(f"{method} {path}: {response.status_code}, expected {expected} for {role}")
    assert not wrong, "\n".join(wrong)
