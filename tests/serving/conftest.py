"""Server fixtures: a registry with the tiny runs registered, an app on it, and keys of each scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Served:
    client: Any  # fastapi.testclient.TestClient (lifespan running)
    store: Any  # tunelab.registry.Store
    state: Any  # tunelab.serving.services.Services
    keys: dict[str, str]  # scope name -> token ("admin", "predict", "feedback")

    def headers(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def register_all(store: Any, runs: dict[str, Path]) -> None:
    store.register(runs["intents_a"], "intents", alias="production")
    store.register(runs["intents_b"], "intents")
    store.register(runs["multilabel"], "tags")
    store.register(runs["ner"], "entities")


@pytest.fixture
def make_server(tmp_path: Path, served_runs: dict[str, Path]) -> Iterator[Any]:
    """`make_server(db_url=None, register=True, **settings)` -> Served; closed after the test."""
    from fastapi.testclient import TestClient

    from tunelab.registry import Store
    from tunelab.serving import create_app, load_settings
    from tunelab.serving.services import build_services

    opened: list[Any] = []

    def make(db_url: str | None = None, register: bool = True, **settings: Any) -> Served:
        url = db_url or f"sqlite:///{tmp_path / 'registry.db'}"
        store = Store(url)
        if register and not store.list_models():
            register_all(store, served_runs)
        keys = {scope: store.create_key(f"k-{scope}-{len(opened)}", scope)[1]
                for scope in ("admin", "predict", "feedback")}
        defaults = {"precision": "fp32", "max_wait_ms": 1.0, "runs_root": str(served_runs["intents_a"].parent)}
        config = load_settings(env={}, db=url, **{**defaults, **settings})
        state = build_services(config, store)
        client = TestClient(create_app(config, state))
        client.__enter__()
        opened.append(client)
        return Served(client, store, state, keys)

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def server(make_server: Any) -> Served:
    return make_server()
