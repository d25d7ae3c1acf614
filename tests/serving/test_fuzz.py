"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis, in-process over ASGI).

The property: no request, valid or not, with or without a key, gets a 5xx answer; and every answer conforms
to the schema (documented status code, content type, body schema). With the admin key every route is
reached; with a predict-only key the admin routes refuse; without a key every non-public route refuses.

Schemathesis generates each request (positive and negative data, its coverage cases, wrong methods); hooks
swap in real model names, versions, aliases and prediction ids half of the time, so the fuzz gets past the
lookups into the predict, feedback, alias and split code. The run is bounded and reproducible: a fixed seed,
`derandomize`, no example database, a few dozen examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serving.conftest import register_all

SEED = 20240607
MAX_EXAMPLES = 30
TIMEOUT_S = 60  # per request: a hung request fails the test instead of hanging the run

#: Checks on every response: `not_a_server_error` is the property; the conformance checks pass as well.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none",
                       "no-shrink": True},
        "phases": {"stateful": {"enabled": False}},
    })


def _openapi() -> dict[str, Any]:
    """The app's OpenAPI document, built at import time (schemathesis collects one test per operation) from an
    app on an in-memory registry; the fuzzed requests go to apps on a real one (`fuzz_env`)."""
    from tunelab.serving import create_app
    from tunelab.serving.services import build_services
    from tunelab.serving.settings import ServeSettings

    state = build_services(ServeSettings(db="sqlite:///:memory:"))
    try:
        return create_app(state.settings, state).openapi()
    finally:
        state.store.close()


# Note: `schemathesis.pytest.from_fixture` (a schema loaded from a fixture) fails under pytest 9.2 in
# schemathesis 4.32.5 (`'Function' object has no attribute '_nodeid'`), hence the schema is loaded eagerly.
schema = schemathesis.openapi.from_dict(_openapi(), config=_config())

#: Real names, versions and aliases of the fuzz registry: without them nearly every generated `name` is
#: invalid or unknown and the fuzz never gets past the lookup.
REFS = ["intents", "intents@1", "intents@2", "intents@production", "intents@staging", "tags", "entities@1"]
MODELS = ["intents", "tags", "entities"]
#: Integers past what a database INTEGER holds (2**31: PostgreSQL, 2**63: SQLite): refused with a 4xx, never a 5xx.
HUGE = [2**31, 2**63, 10**30]
VERSIONS = st.one_of(st.integers(1, 3), st.sampled_from(HUGE))
#: The three shapes of a feedback label (classification, multi-label, NER), to cross with every task.
LABELS = st.one_of(st.text(max_size=8), st.lists(st.text(max_size=8), max_size=3),
                   st.lists(st.fixed_dictionaries({"start": st.integers(0, 40), "end": st.integers(0, 40),
                                                   "label": st.sampled_from(["PER", "LOC", "x"])}), max_size=3))
#: Ids of real predictions (one per task), filled in by `fuzz_registry`, so feedback reaches `feedback_correct`.
PREDICTION_IDS: list[str] = []
PROTECTED_KEYS: set[str] = set()  # ids and names of the keys the fuzz authenticates with


def _half_real(generated: Any, options: dict[str, st.SearchStrategy], *, add: bool = False) -> st.SearchStrategy:
    """`generated` as schemathesis made it, or with the keys it has in `options` replaced by real values (with
    `add`, also the optional ones it left out)."""
    present = {k: v for k, v in options.items() if isinstance(generated, dict) and (add or k in generated)}
    if not present:
        return st.just(generated)
    return st.one_of(st.just(generated), st.fixed_dictionaries(present).map(lambda real: {**generated, **real}))


def _prediction_ids() -> st.SearchStrategy:
    return st.sampled_from(PREDICTION_IDS or ["none"])


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy:
    predict = context.operation.path.endswith("/predict")
    return _half_real(path_parameters, {"name": st.sampled_from(REFS if predict else MODELS), "version": VERSIONS,
                                        "alias": st.sampled_from(["production", "staging"]),
                                        "prediction_id": st.deferred(_prediction_ids)})


@schema.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy:
    return _half_real(query, {"model": st.sampled_from(MODELS), "version": VERSIONS})


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
    path, method = context.operation.path, context.operation.method.upper()
    if path == "/v1/feedback":
        return _half_real(body, {"prediction_id": st.deferred(_prediction_ids), "label": LABELS}, add=True)
    if path == "/v1/models/{name}/aliases/{alias}":
        return _half_real(body, {"version": VERSIONS})
    if path == "/v1/models/{name}/split":
        weights = st.dictionaries(VERSIONS.map(str), st.floats(0.1, 1), min_size=1, max_size=3)
        return _half_real(body, {"weights": weights})
    if path == "/v1/keys" and method == "POST":
        return _half_real(body, {"rate_per_s": st.just(1.0), "burst": st.sampled_from(HUGE)}, add=True)
    return st.just(body)


@dataclass
class FuzzEnv:
    app: Any
    tokens: dict[str, str]  # "admin", "predict" -> token
    victim_id: str  # a spare admin key, revoked instead of the keys the fuzz authenticates with

    def headers(self, scope: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}


@dataclass
class FuzzRegistry:
    store: Any
    runs_root: Path  # an empty folder: registering through the API accepts only run folders under it
    tokens: dict[str, str]
    victim_id: str

    def server(self) -> FuzzEnv:
        from tunelab.serving import create_app, load_settings
        from tunelab.serving.services import build_services

        # rate_per_s=0: no rate limit, so the fuzz reaches the routes instead of collecting 429s.
        config = load_settings(env={}, db=self.store.url, precision="fp32", max_wait_ms=1.0, rate_per_s=0,
                               runs_root=str(self.runs_root))
        return FuzzEnv(create_app(config, build_services(config, self.store)), self.tokens, self.victim_id)


@pytest.fixture(scope="module")
def fuzz_registry(tmp_path_factory: pytest.TempPathFactory, served_runs: dict[str, Path]) -> Iterator[FuzzRegistry]:
    """One registry for the whole module: the four tiny models, three keys, a real prediction of each task."""
    from schemathesis.python.asgi import get_client, shutdown_lifespans

    from tunelab.registry import Store

    root = tmp_path_factory.mktemp("fuzz")
    store = Store(f"sqlite:///{root / 'registry.db'}")
    try:
        register_all(store, served_runs)
        tokens = {}
        for scope in ("admin", "predict"):
            info, tokens[scope] = store.create_key(f"fuzz-{scope}", scope)
            PROTECTED_KEYS.update({info.id, info.name})
        registry = FuzzRegistry(store, root / "runs", tokens, store.create_key("fuzz-victim", "admin")[0].id)
        registry.runs_root.mkdir()
        env = registry.server()
        try:
            with get_client(env.app) as client:
                for model in MODELS:
                    r = client.post(f"/v1/models/{model}/predict", headers=env.headers("admin"),
                                    json={"inputs": ["Alice wants a refund in Paris"]}, timeout=TIMEOUT_S)
                    assert r.status_code == 200, r.text
                    PREDICTION_IDS.append(r.json()["predictions"][0]["id"])
        finally:
            shutdown_lifespans()
        yield registry
    finally:
        PREDICTION_IDS.clear()
        PROTECTED_KEYS.clear()
        store.close()


@pytest.fixture
def fuzz_env(fuzz_registry: FuzzRegistry) -> FuzzEnv:
    """A fresh app per operation over the module's registry: schemathesis' ASGI transport starts the app's
    lifespan on the first request and its pytest plugin ends it after each test item, and a stopped
    Services object has closed its store and batcher."""
    return fuzz_registry.server()


FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
SMALL_SETTINGS = settings(FUZZ_SETTINGS, max_examples=10)
PUBLIC = {"/v1/health", "/v1/ready"}
#: Routes a predict-only key must not get a 2xx from (admin scope, or feedback scope for POST /v1/feedback).
NOT_FOR_PREDICT_KEYS = {
    ("GET", "/metrics"), ("POST", "/v1/feedback"), ("POST", "/v1/models/{name}/versions"),
    ("PUT", "/v1/models/{name}/aliases/{alias}"), ("POST", "/v1/models/{name}/aliases/{alias}/rollback"),
    ("GET", "/v1/models/{name}/split"), ("PUT", "/v1/models/{name}/split"), ("GET", "/v1/models/{name}/ab-report"),
    ("GET", "/v1/predictions"), ("GET", "/v1/predictions/{prediction_id}"), ("GET", "/v1/feedback"),
    ("GET", "/v1/keys"), ("POST", "/v1/keys"), ("GET", "/v1/keys/{key_id}"), ("DELETE", "/v1/keys/{key_id}"),
}


def _protect_keys(case: Any, env: FuzzEnv) -> None:
    """DELETE /v1/keys/{key_id} is fuzzed too (schemathesis reuses ids and names from earlier answers), but never
    on a key the fuzz authenticates with: that one is swapped for a spare admin key."""
    if case.method.upper() == "DELETE" and case.operation.path == "/v1/keys/{key_id}":
        if str(case.path_parameters.get("key_id", "")).strip() in PROTECTED_KEYS:
            case.path_parameters["key_id"] = env.victim_id


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_server_error_with_the_admin_key(case: Any, fuzz_env: FuzzEnv) -> None:
    _protect_keys(case, fuzz_env)
    response = case.call_and_validate(app=fuzz_env.app, headers=fuzz_env.headers("admin"), checks=CHECKS,
                                     timeout=TIMEOUT_S)
    assert response.status_code not in (401, 403), f"the admin key was refused: {response.text}"


@schema.parametrize()
@SMALL_SETTINGS
def test_no_server_error_and_no_admin_access_with_a_predict_key(case: Any, fuzz_env: FuzzEnv) -> None:
    _protect_keys(case, fuzz_env)
    response = case.call_and_validate(app=fuzz_env.app, headers=fuzz_env.headers("predict"), checks=CHECKS,
                                     timeout=TIMEOUT_S)
    if (case.method.upper(), case.operation.path) in NOT_FOR_PREDICT_KEYS:
        assert response.status_code >= 400, f"a predict key got {response.status_code}: {response.text}"


@schema.parametrize()
@SMALL_SETTINGS
def test_no_server_error_and_no_access_without_a_key(case: Any, fuzz_env: FuzzEnv) -> None:
    response = case.call_and_validate(app=fuzz_env.app, checks=CHECKS, timeout=TIMEOUT_S)
    if case.operation.path not in PUBLIC:
        assert response.status_code >= 400, f"no key, yet {response.status_code}: {response.text}"


# ---- regressions: inputs the fuzz (or probing around what it found) showed to answer 5xx -----------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_integers_past_the_database_columns_are_a_4xx(backend: str, make_server: Any,
                                                      request: pytest.FixtureRequest) -> None:
    """Found by the fuzz: a version or burst past the INTEGER column (2**63 on SQLite, 2**31 on PostgreSQL)
    reached SQL and answered 500. Every route must refuse it with a 4xx (or not find it)."""
    server = make_server(db_url=request.getfixturevalue("pg_url") if backend == "postgresql" else None,
                         rate_per_s=0)
    problems = []
    for big in (2**31, 2**63, 10**30):
        for method, path, body in [
            ("GET", f"/v1/models/intents/versions/{big}", None),
            ("GET", f"/v1/predictions?version={big}", None),
            ("GET", f"/v1/feedback?version={big}", None),
            ("PUT", "/v1/models/intents/aliases/staging", {"version": big}),
            ("PUT", "/v1/models/intents/split", {"weights": {"1": 0.5, str(big): 0.5}}),
            ("POST", "/v1/keys", {"name": f"big-{len(problems)}-{big % 97}", "scopes": ["predict"],
                                  "rate_per_s": 1.0, "burst": big}),
        ]:
            status = _status(server.client, method, path, body, server.headers("admin"))
            if not (isinstance(status, int) and 400 <= status < 500):
                problems.append(f"{method} {path} {body}: {status}")
    assert not problems, "\n".join(problems)


def test_feedback_label_of_another_tasks_shape_is_a_4xx(make_server: Any) -> None:
    """Found by the fuzz: feedback whose label has another task's shape (a string or strings for an NER
    prediction, spans for a multi-label one) crashed `feedback_correct` with a TypeError -> 500."""
    server = make_server(rate_per_s=0)
    ids = {}
    for model in ("intents", "tags", "entities"):
        r = server.client.post(f"/v1/models/{model}/predict", json={"inputs": ["Alice wants a refund in Paris"]},
                               headers=server.headers("predict"))
        assert r.status_code == 200, r.text
        ids[model] = r.json()["predictions"][0]["id"]
    span = {"start": 0, "end": 5, "label": "PER"}
    problems = []
    for model, label in [("entities", "PER"), ("entities", ["PER"]), ("entities", ""), ("tags", [span]),
                         ("intents", ["refund"]), ("intents", [span])]:
        status = _status(server.client, "POST", "/v1/feedback", {"prediction_id": ids[model], "label": label},
                         server.headers("feedback"))
        if not (isinstance(status, int) and 400 <= status < 500):
            problems.append(f"{model} {label!r}: {status}")
    assert not problems, "\n".join(problems)
    # the right shapes are still taken
    for model, label in [("entities", [span]), ("tags", ["refund"]), ("intents", "refund")]:
        r = server.client.post("/v1/feedback", json={"prediction_id": ids[model], "label": label},
                               headers=server.headers("feedback"))
        assert r.status_code == 201, r.text


def test_a_ref_with_a_non_ascii_digit_is_a_4xx(make_server: Any) -> None:
    """`'²'.isdigit()` is True but `int('²')` raises: `intents@²` must be refused, not crash `parse_ref`."""
    server = make_server()
    for ref in ("intents@²", "intents@١", "intents@\u0663"):
        status = _status(server.client, "POST", f"/v1/models/{ref}/predict", {"inputs": ["hello"]},
                         server.headers("predict"))
        assert isinstance(status, int) and status < 500, f"{ref}: {status}"


def test_register_with_a_nul_byte_in_the_run_path_is_a_4xx(make_server: Any, tmp_path: Path) -> None:
    server = make_server(runs_root=str(tmp_path))
    for run_path in ("a\x00b", f"{tmp_path}/x\x00"):
        status = _status(server.client, "POST", "/v1/models/intents/versions", {"run_path": run_path},
                         server.headers("admin"))
        assert isinstance(status, int) and 400 <= status < 500, f"{run_path!r}: {status}"


def test_predict_with_a_lone_surrogate_is_a_4xx(make_server: Any) -> None:
    server = make_server()
    for model in ("intents", "entities"):
        r = server.client.post(f"/v1/models/{model}/predict", content='{"inputs": ["ok \\ud800 then"]}',
                               headers={**server.headers("predict"), "Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, r.text


def test_a_bad_input_does_not_fail_the_requests_batched_with_it(make_server: Any) -> None:
    import concurrent.futures

    server = make_server(max_wait_ms=300.0, rate_per_s=0)  # a long batching window: the two requests share a batch
    headers = {**server.headers("predict"), "Content-Type": "application/json"}

    def post(body: str) -> int:
        status = _status(server.client, "POST", "/v1/models/intents/predict", body, headers)
        return status if isinstance(status, int) else 500

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        good = pool.submit(post, '{"inputs": ["where is my parcel"]}')
        bad = pool.submit(post, '{"inputs": ["\\udfff"]}')
        statuses = good.result(timeout=60), bad.result(timeout=60)
    assert statuses[0] == 200, f"the good request got {statuses[0]} (the bad one {statuses[1]})"


def test_ab_report_of_an_unknown_model_is_404(make_server: Any) -> None:
    server = make_server()
    assert server.client.get("/v1/models/intents/split", headers=server.headers("admin")).status_code == 200
    assert server.client.get("/v1/models/intnets/split", headers=server.headers("admin")).status_code == 404
    r = server.client.get("/v1/models/intnets/ab-report", headers=server.headers("admin"))
    assert r.status_code == 404, r.text


def _status(client: Any, method: str, path: str, body: Any, headers: dict[str, str]) -> int | str:
    """The status code, or the exception a 500 raised through the test client."""
    try:
        if isinstance(body, str):
            return client.request(method, path, content=body, headers=headers).status_code
        return client.request(method, path, json=body, headers=headers).status_code
    except Exception as exc:  # noqa: BLE001 - TestClient re-raises the app's unhandled errors
        return f"500 ({type(exc).__name__}: {exc})"
