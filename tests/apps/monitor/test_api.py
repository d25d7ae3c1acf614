"""The monitor's HTTP routes and SDK methods on a server with the tiny sentiment run registered: define, ingest,
alerts, aggregates, errors as 4xx JSON, scopes, and webhook delivery by the server's background task."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps.monitor.conftest import Hook, monitor_raw
from tunelab.client import Aggregate, Client, EventsResult, MonitorAlert
from tunelab.errors import ConfigError, NotFoundError


@dataclass
class Api:
    client: Any  # TestClient, lifespan running
    keys: dict[str, str]

    def headers(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    def sdk(self, scope: str = "predict") -> Client:
        return Client("http://testserver", api_key=self.keys[scope], transport=_Through(self.client))


class _Through(httpx.BaseTransport):
    """An httpx transport that sends the SDK's requests through the TestClient (in-process, lifespan running)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.client.request(request.method, str(request.url), content=request.read(),
                                     headers=dict(request.headers))
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


@pytest.fixture
def api(tmp_path: Path, sentiment_run: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from tunelab.registry import Store
    from tunelab.serving import create_app, load_settings
    from tunelab.serving import services as routes
    from tunelab.serving.services import build_services

    monkeypatch.setattr(routes, "DELIVERY_INTERVAL_S", 0.1)
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    store = Store(url)
    store.register(sentiment_run, "sentiment", alias="production")
    keys = {scope: store.create_key(f"k-{scope}", scope)[1] for scope in ("admin", "predict")}
    settings = load_settings(env={}, db=url, precision="fp32", rate_per_s=0, webhook_hosts=["127.0.0.1"],
                             webhook_allow_private=True)
    with TestClient(create_app(settings, build_services(settings, store))) as client:
        yield Api(client, keys)


def news(text: str, minute: int) -> dict[str, Any]:
    return {"text": text, "timestamp": f"2026-01-05T09:{minute:02d}:00Z", "source": "wire"}


def test_define_ingest_and_read_back(api: Api, hook: Hook) -> None:
    hook.fail_first = 1
    config = monitor_raw("sentiment@production", webhook={"url": hook.url, "backoff": 0.05})
    r = api.client.put("/v1/monitors/markets", json={"config": config}, headers=api.headers("admin"))
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "markets", "rules": ["ticker-negative", "ticker-negative-spike"], "window_s": 3600.0,
                        "webhook": True}

    sdk = api.sdk()
    calm = sdk.send_events("markets", [news("$ACME files report", 0), news("$ACME files report", 1)])
    assert isinstance(calm, EventsResult) and (calm.accepted, calm.duplicates, calm.alerts) == (1, 1, [])
    bad_news = [news(f"$ACME plunges after downgrade {'!' * i}", 10 + i) for i in range(5)]
    result = sdk.send_events("markets", bad_news)
    assert result.accepted == 5 and [a.key for a in result.alerts] == ["ACME"]
    alert = result.alerts[0]
    assert isinstance(alert, MonitorAlert) and alert.rule == "ticker-negative" and alert.value > 0.6

    listed = sdk.alerts("markets", rule="ticker-negative")
    assert [a.id for a in listed] == [alert.id] and listed[0].status in ("pending", "delivered")
    aggregates = sdk.aggregates("markets", kind="ticker", key="ACME")
    assert len(aggregates) == 1 and isinstance(aggregates[0], Aggregate)
    assert (aggregates[0].volume, aggregates[0].negative) == (6, 5) and aggregates[0].mean_score < 0

    # the server's background task delivers it (the hook fails the first attempt)
    deadline = time.monotonic() + 20
    while sdk.alert("markets", alert.id).status != "delivered":
        assert time.monotonic() < deadline, sdk.alert("markets", alert.id)
        time.sleep(0.05)
    assert [d.ok for d in sdk.alert("markets", alert.id).deliveries] == [False, True]
    assert [b["alert"]["id"] for b in hook.received] == [alert.id, alert.id]


def test_errors_are_4xx_json(api: Api) -> None:
    admin, predict = api.headers("admin"), api.headers("predict")
    bad = {**monitor_raw("sentiment@production"), "rules": [{"name": "x", "type": "threshold", "above": "high"}]}
    r = api.client.put("/v1/monitors/markets", json={"config": bad}, headers=admin)
    assert r.status_code == 400 and r.json()["code"] == "config_error"
    assert "rules[0].above" in r.json()["message"] and r.json()["details"]["problems"]
    r = api.client.put("/v1/monitors/markets", json={"config": monitor_raw("nosuch@production")}, headers=admin)
    assert r.status_code == 404, r.text  # the model is looked up before anything is stored
    assert api.client.get("/v1/monitors/markets", headers=admin).status_code == 404
    assert api.client.put("/v1/monitors/markets", json={"config": monitor_raw("sentiment")},
                          headers=predict).status_code == 403
    api.client.put("/v1/monitors/markets", json={"config": monitor_raw("sentiment")}, headers=admin)

    r = api.client.post("/v1/monitors/markets/events", json={"events": [{"text": "x", "timestamp": "soon"},
                                                                        news("$ACME files report", 3)]},
                        headers=predict)
    assert r.status_code == 422 and r.json()["details"]["problems"][0]["path"] == "events[0]"
    assert r.json()["details"]["problems"][0]["column"] == "timestamp"
    r = api.client.post("/v1/monitors/markets/events", json={"events": [{"text": "nul\u0000", "timestamp": 1}]},
                        headers=predict)
    assert r.status_code == 422
    assert api.client.post("/v1/monitors/markets/events", json={"events": []}, headers=predict).status_code == 422
    assert api.client.post("/v1/monitors/nosuch/events", json={"events": [news("x", 1)]},
                           headers=predict).status_code == 404
    assert api.client.post("/v1/monitors/markets/events", json={"events": [news("x", 1)]}).status_code == 401
    assert api.client.get("/v1/monitors/markets/aggregates?kind=sector", headers=predict).status_code == 400
    assert api.client.get("/v1/monitors/markets/alerts?since=9999-12-31T23:59:59-23:59",
                          headers=predict).status_code == 400
    assert api.client.get("/v1/monitors/markets/alerts/7", headers=predict).status_code == 404
    with pytest.raises(NotFoundError):
        api.sdk().alerts("nosuch")
    with pytest.raises(ConfigError):
        api.sdk("admin").define_monitor("markets", {**monitor_raw("sentiment"), "window": "soon"})
    assert [m.name for m in api.sdk("admin").monitors()] == ["markets"]


def test_chinese_news_over_http_keeps_utf8_and_stock_code_keys(api: Api) -> None:
    import json

    api.client.put("/v1/monitors/markets", json={"config": monitor_raw("sentiment")}, headers=api.headers("admin"))
    events = [{**news("腾讯控股（00700）发布财报，营收增长", 1), "entities": ["腾讯控股"]},
              {**news("贵州茅台600519.SH召开股东大会", 2), "tickers": ["sz000001"], "source": "财经网"}]
    body = json.dumps({"events": events}, ensure_ascii=False).encode("utf-8")  # raw UTF-8, not \u escapes
    r = api.client.post("/v1/monitors/markets/events", content=body,
                        headers={**api.headers("predict"), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    tickers = api.client.get("/v1/monitors/markets/aggregates", params={"kind": "ticker"},
                             headers=api.headers("predict")).json()
    assert sorted(row["key"] for row in tickers["aggregates"]) == ["000001.SZ", "00700.HK", "600519.SH"]
    by_entity = api.sdk().aggregates("markets", kind="entity", key="腾讯控股")
    assert [(a.key, a.volume) for a in by_entity] == [("腾讯控股", 1)]
