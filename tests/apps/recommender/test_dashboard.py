"""The recommender's dashboard pages (TestClient, local server without auth): the list, a recommender's metrics
against its baselines (chart data), a user's history next to recommendations with reasons, a free-text query,
bad input as a 4xx page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tunelab.apps.recommender.recommender import Recommender


@pytest.fixture
def pages(built: Path, tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from tunelab.registry import Store
    from tunelab.serving import create_app, load_settings
    from tunelab.serving.services import build_services

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    store = Store(url)
    settings = load_settings(env={}, db=url, precision="fp32", max_wait_ms=1.0, runs_root=str(built.parent),
                             auth=False)
    services = build_services(settings, store)
    with TestClient(create_app(settings, services), base_url="http://127.0.0.1") as client:
        client.services = services  # type: ignore[attr-defined]
        yield client


def test_empty_list_says_how_to_build_one(pages: Any) -> None:
    page = pages.get("/recommender")
    assert page.status_code == 200 and 'id="recommenders-empty"' in page.text
    assert 'href="/recommender"' in page.text and 'aria-current="page"' in page.text


def test_user_history_recommendations_reasons_query_and_chart(pages: Any, built: Path) -> None:
    pages.services.recommenders.registry.register(built, "shop")
    listing = pages.get("/recommender").text
    assert 'href="/recommender/shop"' in listing
    page = pages.get("/recommender/shop", params={"user": "u1", "k": 5})
    assert page.status_code == 200, page.text[:500]
    rec = Recommender.load(built)
    liked = [rec.item_ids[r] for r in rec.history("u1")]
    text = page.text
    history = text[text.index('id="history"'):text.index("</ol>", text.index('id="history"'))]
    assert liked and all(item in history for item in liked)
    expected = [r.item_id for r in rec.for_user("u1", 5)]
    table = text[text.index('id="recommended"'):]
    table = table[:table.index("</table>")]
    shown = re.findall(r"<tr><td>\d+</td><td>([^<]+)</td>", table)
    assert shown == expected and not set(shown) & set(liked)  # seen items are excluded
    assert "because you liked" in table and "collaborative" in table  # each signal's contribution
    data = json.loads(re.search(r'id="metrics-data">(.*?)</script>', page.text, re.S).group(1))  # type: ignore
    assert "hybrid" in data["models"] and "popularity" in data["models"]
    assert len(data["series"]["ndcg"]) == len(data["models"])
    query = pages.get("/recommender/shop", params={"q": "space alien"}).text
    assert 'id="answers"' in query


def test_bad_input_is_a_4xx_page(pages: Any, built: Path) -> None:
    pages.services.recommenders.registry.register(built, "shop")
    assert pages.get("/recommender/nope").status_code == 404
    assert pages.get("/recommender/shop", params={"user": "nobody"}).status_code == 404
    assert pages.get("/recommender/shop", params={"k": 0}).status_code in (400, 422)
    assert pages.get("/recommender/shop", params={"q": "x\x00y"}).status_code == 400
