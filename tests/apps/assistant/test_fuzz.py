"""Schemathesis fuzz of the assistant routes (from the app's OpenAPI schema): no 5xx, answers conform to the
schema, with the admin key and without a key. Half the generated names are the real assistant's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.serving.test_fuzz import _half_real, _openapi

schema = schemathesis.openapi.from_dict(_openapi(), config=schemathesis.Config.from_dict({
    "seed": 7, "generation": {"mode": "all", "max-examples": 15, "deterministic": True, "database": "none",
                              "no-shrink": True}, "phases": {"stateful": {"enabled": False}}})).include(
    path_regex="^/v1/assistants")


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy:
    return _half_real(path_parameters, {"name": st.just("support"), "handoff_id": st.integers(1, 3)})


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, built: Path) -> Any:
    from tunelab.apps.assistant.store import AssistantStore
    from tunelab.registry import Store
    from tunelab.serving import load_settings

    root = tmp_path_factory.mktemp("fuzz-assistant")
    store = Store(f"sqlite:///{root / 'r.db'}")
    AssistantStore(store).register(built, "support")
    token = store.create_key("fuzz-admin", "admin")[1]
    config = load_settings(env={}, db=store.url, precision="fp32", rate_per_s=0, runs_root=str(root))
    yield store, config, token
    store.close()


@pytest.fixture
def app_and_token(fuzz_app: Any) -> Any:
    from tunelab.serving import create_app
    from tunelab.serving.services import build_services

    store, config, token = fuzz_app
    return create_app(config, build_services(config, store)), token


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_assistant_routes_never_answer_5xx(case: Any, app_and_token: Any) -> None:
    app, token = app_and_token
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"},
                           checks=[not_a_server_error, status_code_conformance], timeout=60)
    response = case.call(app=app, timeout=60)
    assert response.status_code >= 400  # no key: refused
