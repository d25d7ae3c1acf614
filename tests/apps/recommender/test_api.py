"""The recommender over HTTP and the SDK: register, recommend (user, liked items, query), exclusion, filters,
similar, events read by the next build, items added through the API, scopes, 4xx on bad input."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apps.monitor.test_api import _Through
from tests.apps.recommender.conftest import build_args
from tunelab.apps.recommender.state import BuildState


@pytest.fixture
def api(built: Path, tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from tunelab.registry import Store
    from tunelab.serving import create_app, load_settings
    from tunelab.serving.services import build_services

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    store = Store(url)
    keys = {scope: store.create_key(f"k-{scope}", scope)[1] for scope in ("admin", "predict", "feedback")}
    settings = load_settings(env={}, db=url, precision="fp32", max_wait_ms=1.0, runs_root=str(built.parent))
    client = TestClient(create_app(settings, build_services(settings, store)))
    with client:
        client.keys = keys  # type: ignore[attr-defined]
        client.url = url  # type: ignore[attr-defined]
        yield client


def auth(client: Any, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.keys[scope]}"}


def registered(client: Any, built: Path) -> dict[str, Any]:
    response = client.post("/v1/recommenders/shop/versions", json={"path": str(built)}, headers=auth(client, "admin"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def recommend(client: Any, body: dict[str, Any], scope: str = "predict") -> Any:
    return client.post("/v1/recommenders/shop/recommend", json=body, headers=auth(client, scope))


def test_register_list_and_show(api: Any, built: Path) -> None:
    version = registered(api, built)
    assert version["version"] == 1 and "hybrid" in version["metrics"]
    assert registered(api, built)["version"] == 2
    listed = api.get("/v1/recommenders", headers=auth(api, "predict")).json()["recommenders"]
    assert [(v["name"], v["version"]) for v in listed] == [("shop", 1), ("shop", 2)]
    assert api.get("/v1/recommenders/shop", headers=auth(api, "predict")).json()["version"] == 2


def test_recommend_for_a_user_excludes_seen_and_explains(api: Any, built: Path) -> None:
    registered(api, built)
    state = BuildState.load(built)
    u0 = state.user_ids.index("u0")
    seen = {state.catalogue.item_ids[i] for i in state.items[state.users == u0]}
    body = recommend(api, {"user_id": "u0", "k": 5}).json()
    items = body["items"]
    assert body["recommender"] == "shop" and len(items) == 5 and not seen & {i["item_id"] for i in items}
    assert all(i["because_of"] in seen for i in items)
    first = items[0]
    assert first["score"] == pytest.approx(sum(c["value"] for c in first["contributions"]), abs=1e-3)
    everything = recommend(api, {"user_id": "u0", "k": 33, "exclude_seen": False}).json()["items"]
    assert seen <= {i["item_id"] for i in everything}


def test_liked_items_query_filters_and_similar(api: Any, built: Path) -> None:
    registered(api, built)
    liked = recommend(api, {"liked_items": ["i00", "i01"], "k": 3}).json()["items"]
    assert len(liked) == 3 and not {"i00", "i01"} & {i["item_id"] for i in liked}
    assert len(recommend(api, {"query": "space alien", "k": 4}).json()["items"]) == 4
    war = recommend(api, {"user_id": "u0", "k": 5, "filters": {"genres": "war"}}).json()["items"]
    assert war and all(i["item_id"].startswith("i2") for i in war)
    similar = api.post("/v1/recommenders/shop/similar", json={"item_id": "i00", "k": 3},
                       headers=auth(api, "predict")).json()["items"]
    assert len(similar) == 3 and "i00" not in {i["item_id"] for i in similar}


def test_an_item_put_through_the_api_is_recommendable_at_once(api: Any, built: Path) -> None:
    registered(api, built)
    text = BuildState.load(built).catalogue.texts[0]  # i00's text: the same vector, so its nearest neighbour
    response = api.put("/v1/recommenders/shop/items", headers=auth(api, "admin"),
                       json={"items": [{"item_id": "fresh", "text": text, "fields": {"genres": "space"}}]})
    assert response.status_code == 200 and response.json() == {"added": 1, "updated": 0}
    similar = api.post("/v1/recommenders/shop/similar", json={"item_id": "i00", "k": 1},
                       headers=auth(api, "predict")).json()["items"]
    assert similar[0]["item_id"] == "fresh"
    found = recommend(api, {"query": text, "k": 40, "filters": {"genres": "space"}}).json()["items"]
    assert "fresh" in {i["item_id"] for i in found}
    again = api.put("/v1/recommenders/shop/items", headers=auth(api, "admin"),
                    json={"items": [{"item_id": "fresh", "text": "war soldier battle"}]})
    assert again.json() == {"added": 0, "updated": 1}


def test_events_are_logged_and_read_by_the_next_build(api: Any, built: Path, shop: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    registered(api, built)
    events = [{"user_id": "newbie", "item_id": f"i3{j}", "event": "click", "value": 5, "timestamp": 100 + j}
              for j in range(4)] + [{"user_id": "newbie", "item_id": "i00", "event": "impression"}]
    response = api.post("/v1/recommenders/shop/events", json={"events": events}, headers=auth(api, "feedback"))
    assert response.status_code == 200 and response.json() == {"logged": 5}
    unknown = api.post("/v1/recommenders/shop/events", headers=auth(api, "feedback"),
                       json={"events": [{"user_id": "x", "item_id": "nope", "event": "click"}]})
    assert unknown.status_code == 404 and "nope" in unknown.json()["message"]

    output = tmp_path / "next"
    monkeypatch.setattr(sys, "argv", ["tunelab", *build_args(shop, output, "--max-steps", "2", "--from-registry",
                                                             "shop", "--db", api.url)])
    from tunelab.cli.main import main

    main()
    lines = (output / "registry-events.csv").read_text().splitlines()
    assert lines[0] == "user_id,item_id,timestamp,event,value" and len(lines) == 6
    state = BuildState.load(output)
    assert "newbie" in state.user_ids
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["counts"]["interactions"] == json.loads((built / "manifest.json").read_text())[
        "counts"]["interactions"] + 5


def test_scopes_and_bad_input(api: Any, built: Path) -> None:
    refused = api.post("/v1/recommenders/shop/versions", json={"path": str(built)}, headers=auth(api, "predict"))
    assert refused.status_code == 403
    outside = api.post("/v1/recommenders/shop/versions", json={"path": "/etc"}, headers=auth(api, "admin"))
    assert outside.status_code == 400
    assert recommend(api, {"user_id": "u0"}).status_code == 404  # nothing registered yet
    registered(api, built)
    unknown = recommend(api, {"user_id": "stranger"})
    assert unknown.status_code == 404 and "stranger" in unknown.json()["message"]
    for body in ({"user_id": "u0", "k": 0}, {"user_id": "u0", "k": 101}, {}, {"user_id": "u0", "query": "x"},
                 {"user_id": "u0", "colour": "red"}):
        response = recommend(api, body)
        assert response.status_code == 422, body
        assert "code" in response.json()
    assert recommend(api, {"user_id": "u0", "filters": {"nope": "x"}}).status_code == 400
    assert api.put("/v1/recommenders/shop/items", headers=auth(api, "predict"),
                   json={"items": [{"item_id": "a", "text": "b"}]}).status_code == 403
    assert api.post("/v1/recommenders/shop/events", headers=auth(api, "predict"),
                    json={"events": [{"user_id": "u0", "item_id": "i00", "event": "click"}]}).status_code == 403


def test_the_sdk_speaks_the_same_schema(api: Any, built: Path) -> None:
    from tunelab.client import Client

    sdk = Client("http://testserver", api.keys["admin"], transport=_Through(api))
    version = sdk.register_recommender("shop", str(built))
    assert version.version == 1 and [v.name for v in sdk.recommenders()] == ["shop"]
    found = sdk.recommend("shop", user_id="u0", k=3)
    assert found.recommender == "shop" and len(found.items) == 3
    assert sdk.similar_items("shop", "i00", k=2).items[0].item_id != "i00"
    assert sdk.log_recommender_events("shop", [{"user_id": "u0", "item_id": "i00", "event": "click"}]).logged == 1
    assert sdk.put_items("shop", [{"item_id": "z", "text": "robot spaceship"}]).added == 1
