"""The Python SDK (`tunelab.Client`, `tunelab.AsyncClient`) and `tunelab predict --server` against a real server:
uvicorn on 127.0.0.1 in a background thread, once for this module."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tunelab
from tests.serving.conftest import register_all
from tunelab.client import FeedbackResult, PredictResult, ServedPrediction
from tunelab.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    RateLimitError,
    TunelabError,
    UsageError,
)
from tunelab.serving.schemas import SpanOut
from tunelab.types import Span

MAX_TEXTS = 5


@dataclass
class LiveServer:
    url: str
    db_url: str
    store: Any
    keys: dict[str, str]  # scope -> token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, served_runs: dict[str, Path]) -> Iterator[LiveServer]:
    import uvicorn

    from tunelab.registry import Store
    from tunelab.serving import create_app, load_settings
    from tunelab.serving.services import build_services

    db_url = f"sqlite:///{tmp_path_factory.mktemp('sdk') / 'registry.db'}"
    store = Store(db_url)
    register_all(store, served_runs)
    keys = {scope: store.create_key(f"sdk-{scope}", scope)[1] for scope in ("admin", "predict", "feedback")}
    settings = load_settings(env={}, db=db_url, precision="fp32", max_wait_ms=1.0, max_texts=MAX_TEXTS,
                             runs_root=str(served_runs["intents_a"].parent))
    app = create_app(settings, build_services(settings, store))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="sdk-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", db_url, store, keys)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "the uvicorn server did not stop"


def client(live: LiveServer, scope: str = "admin", **kwargs: Any) -> Any:
    return tunelab.Client(live.url, live.keys[scope], **kwargs)


# ---- sync client: round trips ----------------------------------------------------------------------------------


def test_top_level_exports() -> None:
    from tunelab import client as sdk

    assert tunelab.Client is sdk.Client and tunelab.AsyncClient is sdk.AsyncClient


def test_predict_and_feedback_classification(live: LiveServer) -> None:
    with client(live, "predict") as predictor, client(live, "feedback") as reviewer:
        result = predictor.predict("intents", ["where is my parcel", "refund please"])
        assert isinstance(result, PredictResult)
        assert (result.model, result.version, result.task) == ("intents", 1, "classification")
        assert len(result.predictions) == 2 and all(isinstance(p, ServedPrediction) for p in result.predictions)
        first = result.predictions[0]
        assert first.label in {"refund", "shipping", "password"} and 0 < first.score <= 1
        assert set(first.probabilities) == {"refund", "shipping", "password"}
        assert first.labels is None and first.spans is None
        assert predictor.predict("intents", "one text").predictions[0].id  # a lone string is one text
        assert predictor.predict("intents", ["x"], version=2).version == 2
        assert predictor.predict("intents", ["x"], version="production").version == 1
        assert predictor.predict("intents@2", ["x"]).version == 2

        feedback = reviewer.feedback(first.id, label=first.label)
        assert isinstance(feedback, FeedbackResult)
        assert (feedback.prediction_id, feedback.model, feedback.version, feedback.correct) == (
            first.id, "intents", 1, True)
        assert isinstance(feedback.id, int) and feedback.created_at
        assert reviewer.feedback(first.id, thumb=-1, comment="no").correct is False
        assert reviewer.feedback(first.id, comment="just a note").correct is None


def test_predict_and_feedback_multilabel_and_ner(live: LiveServer) -> None:
    with client(live, "admin") as admin:
        tags = admin.predict("tags", ["refund the charge now please"])
        assert tags.task == "multilabel"
        prediction = tags.predictions[0]
        assert isinstance(prediction.labels, list) and set(prediction.labels) <= set(prediction.scores)
        assert admin.feedback(prediction.id, label=list(prediction.labels)).correct is True

        text = "Alice visited Paris today"
        ner = admin.predict("entities", [text])
        assert ner.task == "ner"
        spans = ner.predictions[0].spans
        assert isinstance(spans, list) and all(isinstance(s, SpanOut) for s in spans)
        for span in spans:
            assert text[span.start:span.end] == span.text
        assert admin.feedback(ner.predictions[0].id, label=list(spans)).correct is True  # Span objects are sent
        wrong = [Span(0, 5, "ORG"), Span(14, 19, "ORG")]
        assert admin.feedback(ner.predictions[0].id, label=wrong).correct is False


def test_models_aliases_and_splits(live: LiveServer, served_runs: dict[str, Path]) -> None:
    with client(live) as admin:
        assert {"entities", "intents", "tags"} <= {m.name for m in admin.models()}
        assert admin.model("intents").aliases == {"production": 1}

        assert admin.register("sdk-model", str(served_runs["intents_a"]), alias="production").version == 1
        assert admin.register("sdk-model", str(served_runs["intents_b"]), description="b").version == 2
        assert admin.promote("sdk-model", 2).version == 2
        assert admin.predict("sdk-model", ["x"]).version == 2
        assert admin.rollback("sdk-model").version == 1
        assert admin.predict("sdk-model", ["x"]).version == 1
        assert admin.promote("sdk-model", 2, alias="staging").version == 2
        assert admin.predict("sdk-model", ["x"], version="staging").version == 2

        assert admin.set_split("sdk-model", {1: 0.5, 2: 0.5}) == {1: 0.5, 2: 0.5}
        chosen = {c: admin.predict("sdk-model", ["x"], caller_id=c).version for c in (f"c{i}" for i in range(12))}
        assert set(chosen.values()) == {1, 2}
        assert all(admin.predict("sdk-model", ["x"], caller_id=c).version == v for c, v in chosen.items())
        report = admin.ab_report("sdk-model", min_samples=1)
        assert report.model == "sdk-model" and {a.version for a in report.arms} == {1, 2}
        assert admin.set_split("sdk-model", {}) == {}
        assert admin.model("sdk-model").split == {}

        logged = admin.predictions(model="sdk-model", limit=3)
        assert len(logged) == 3 and all(p.model == "sdk-model" for p in logged)


def test_keys_round_trip(live: LiveServer) -> None:
    with client(live) as admin:
        created = admin.create_key("sdk-partner", ["predict"])
        assert created.key.startswith("tl_") and created.scopes == ["predict"]
        listed = {k.id: k for k in admin.keys()}
        assert listed[created.id].name == "sdk-partner" and listed[created.id].revoked_at is None
        assert created.key not in json.dumps([k.model_dump(mode="json") for k in listed.values()])
        with tunelab.Client(live.url, created.key) as partner:
            assert partner.predict("intents", ["hi"]).version == 1
            assert admin.revoke_key(created.id).revoked_at
            with pytest.raises(AuthError) as caught:
                partner.predict("intents", ["hi"])
            assert not isinstance(caught.value, ForbiddenError) and caught.value.code == "unauthorized"
        usage = {k.id: k for k in admin.keys()}[created.id].usage
        assert usage.requests == 1 and usage.texts == 1 and usage.errors >= 0


def test_health_and_ready(live: LiveServer) -> None:
    with tunelab.Client(live.url) as anonymous:  # no key needed
        assert anonymous.health().status == "ok"
        ready = anonymous.ready()
        assert ready.status == "ready" and ready.db == "sqlite" and ready.schema_revision


# ---- errors come back as the same classes ----------------------------------------------------------------------


def test_errors_are_rebuilt(live: LiveServer) -> None:
    with client(live, "predict") as predictor:
        with pytest.raises(NotFoundError) as caught:
            predictor.predict("nope", ["x"])
        assert caught.value.code == "not_found" and "nope" in caught.value.message
        with pytest.raises(NotFoundError):
            predictor.predict("intents", ["x"], version=9)
        with pytest.raises(ForbiddenError) as forbidden:
            predictor.keys()
        assert isinstance(forbidden.value, AuthError) and forbidden.value.code == "forbidden"
        assert "admin" in str(forbidden.value.message)
        with pytest.raises(UsageError) as usage:
            predictor.predict("intents", ["x"] * (MAX_TEXTS + 1))
        assert usage.value.code == "usage_error" and usage.value.details.get("hint")
        with pytest.raises(UsageError):
            predictor.predict("Not A Name", ["x"])
        with pytest.raises(TunelabError) as invalid:
            predictor.predict("intents", [])
        assert "inputs" in invalid.value.message

    with tunelab.Client(live.url, "tl_000000000000_wrong") as stranger:
        with pytest.raises(AuthError) as caught:
            stranger.models()
        assert caught.value.code == "unauthorized" and not isinstance(caught.value, ForbiddenError)
    with tunelab.Client(live.url) as nobody:
        with pytest.raises(AuthError):
            nobody.predict("intents", ["x"])


def test_unmapped_error_codes_keep_the_server_code(live: LiveServer) -> None:
    with client(live, "predict") as predictor:
        with pytest.raises(TunelabError) as caught:
            predictor.predict("intents", [])
    assert caught.value.code == "invalid_request"


def test_names_are_escaped_in_paths(live: LiveServer) -> None:
    with client(live) as admin:
        with pytest.raises(TunelabError):
            admin.model("../keys")  # must not turn into GET /v1/keys


def test_rate_limit_error_and_retry(live: LiveServer) -> None:
    with client(live) as admin:
        slow = admin.create_key("sdk-slow", ["predict"], rate_per_s=0.01, burst=1).key
        quick = admin.create_key("sdk-quick", ["predict"], rate_per_s=5, burst=1).key
    with tunelab.Client(live.url, slow, retries=0) as limited:
        limited.predict("intents", ["x"])
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            limited.predict("intents", ["x"])
        assert time.monotonic() - started < 5  # retries=0: raised at once, no sleeping
        assert caught.value.code == "rate_limited" and 90 <= caught.value.retry_after <= 100
    with tunelab.Client(live.url, quick, retries=2) as patient:
        patient.predict("intents", ["x"])
        assert patient.predict("intents", ["x"]).version == 1  # a 429 first, then a retry after ~0.2 s


def test_unreachable_server(live: LiveServer) -> None:
    with tunelab.Client(f"http://127.0.0.1:{free_port()}", "tl_a_b", retries=0, timeout=5) as lost:
        with pytest.raises(TunelabError, match="cannot reach"):
            lost.health()


# ---- async client ----------------------------------------------------------------------------------------------


def test_async_client(live: LiveServer) -> None:
    async def main() -> None:
        async with tunelab.AsyncClient(live.url, live.keys["admin"]) as admin:
            results = await asyncio.gather(*(admin.predict("intents", [f"parcel {i}"]) for i in range(8)))
            assert all(isinstance(r, PredictResult) and r.version == 1 for r in results)
            assert len({r.predictions[0].id for r in results}) == 8
            feedback = await admin.feedback(results[0].predictions[0].id, thumb=1)
            assert isinstance(feedback, FeedbackResult) and feedback.correct is True
            assert {"entities", "intents", "tags"} <= {m.name for m in await admin.models()}
            assert (await admin.health()).status == "ok"
            ner = await admin.predict("entities", ["Bob Smith works at Acme"])
            assert all(isinstance(s, SpanOut) for s in ner.predictions[0].spans)
            with pytest.raises(NotFoundError):
                await admin.predict("nope", ["x"])
        async with tunelab.AsyncClient(live.url, live.keys["predict"], retries=0) as predictor:
            with pytest.raises(ForbiddenError):
                await predictor.create_key("nope", ["admin"])
            with pytest.raises(UsageError):
                await predictor.predict("intents", ["x"] * (MAX_TEXTS + 1))

    asyncio.run(asyncio.wait_for(main(), 60))


def test_async_client_over_asgi_transport(live: LiveServer) -> None:
    """The same app in-process through httpx.ASGITransport (no network)."""
    import httpx

    from tunelab.registry import Store
    from tunelab.serving import create_app, load_settings, services
    from tunelab.serving.services import build_services

    settings = load_settings(env={}, db=live.db_url, precision="fp32", max_wait_ms=1.0)
    state = build_services(settings, Store(live.db_url))
    app = create_app(settings, state)

    async def main() -> str:
        try:
            transport = httpx.ASGITransport(app=app)
            async with tunelab.AsyncClient("http://tunelab.test", live.keys["admin"], transport=transport) as sdk:
                result = await sdk.predict("intents", ["where is my parcel"], version=2)
                assert result.version == 2 and result.predictions[0].label
                assert (await sdk.feedback(result.predictions[0].id, thumb=1)).version == 2
                with pytest.raises(NotFoundError):
                    await sdk.predict("intents", ["x"], version=7)
                return result.predictions[0].id
        finally:
            await services.stop(state)

    prediction_id = asyncio.run(asyncio.wait_for(main(), 60))
    assert live.store.get_prediction(prediction_id)["text"] == "where is my parcel"


# ---- CLI -------------------------------------------------------------------------------------------------------


def test_cli_predict_against_the_server(live: LiveServer) -> None:
    exe = Path(sys.executable).with_name("tunelab")
    env = {**os.environ, "TUNELAB_API_KEY": live.keys["predict"]}
    done = subprocess.run([str(exe), "predict", "intents@2", "--server", live.url, "-t", "where is my parcel",
                           "-t", "refund please"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["where is my parcel", "refund please"]
    for row in rows:
        assert row["id"] and row["label"] in {"refund", "shipping", "password"}
        assert live.store.get_prediction(row["id"])["version"] == 2
    assert live.keys["predict"] not in done.stdout + done.stderr


def test_cli_predict_errors(live: LiveServer) -> None:
    from typer.testing import CliRunner

    from tunelab.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["predict", "nope", "--server", live.url, "-t", "x"],
                           env={"TUNELAB_API_KEY": live.keys["predict"]})
    assert isinstance(result.exception, NotFoundError)
    result = runner.invoke(app, ["predict", "intents", "--server", live.url, "-t", "x"],
                           env={"TUNELAB_API_KEY": "tl_000000000000_nope"})
    assert isinstance(result.exception, AuthError)
    result = runner.invoke(app, ["predict", "entities", "--server", live.url, "-t", "Alice visited Paris today",
                                 "--out-format", "csv"], env={"TUNELAB_API_KEY": live.keys["admin"]})
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split(",")
    assert header[:3] == ["text", "id", "spans"]
