"""Webhook delivery against a real HTTP server on 127.0.0.1 that fails the first attempts: retries with backoff,
every attempt recorded, nothing lost across a restart (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.apps.monitor.conftest import Hook, KeywordClassifier, burst, monitor_raw
from tunelab.apps.monitor.config import WebhookConfig
from tunelab.apps.monitor.hub import MonitorHub
from tunelab.apps.monitor.outbox import backoff_delay, deliver_due
from tunelab.apps.monitor.policy import MonitorPolicy, WebhookSecrets
from tunelab.apps.monitor.webhook import post_json

# the operator's policy for these tests: receivers on 127.0.0.1, one named secret
LOOPBACK = MonitorPolicy(webhook_hosts=("127.0.0.1",), allow_private=True, secrets=WebhookSecrets({"hook_t": "s3cret"}))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket closes


def define(registry: Any, url: str) -> MonitorHub:
    hub = MonitorHub(registry, classifier=KeywordClassifier(), policy=LOOPBACK)
    webhook = {"url": url, "backoff": 0.05, "max_backoff": 0.2, "timeout": 2,
               "headers": {"X-Token": "${secret:hook_t}"}}
    hub.define("markets", monitor_raw(webhook=webhook))
    return hub


def deliver_until(hub: MonitorHub, done: Any, limit_s: float = 15.0) -> int:
    """Run delivery passes (as the server's background task does) until `done()`; bounded."""
    passes, deadline = 0, time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, "delivery did not finish in time"
        hub.deliver()
        passes += 1
        time.sleep(0.02)
    return passes


def test_retries_with_backoff_until_delivered(registry: Any, hook: Hook) -> None:
    hub = define(registry, hook.url)
    [alert] = hub.get("markets").ingest(burst("TSLA", 0, count=5)).alerts
    assert hub.store.get_alert(alert["id"])["status"] == "pending"
    deliver_until(hub, lambda: hub.store.get_alert(alert["id"])["status"] == "delivered")

    stored = hub.store.get_alert(alert["id"])
    assert stored["attempts"] == 3 and stored["delivered_at"] is not None and stored["next_attempt_at"] is None
    assert [(d["attempt"], d["ok"], d["status_code"]) for d in stored["deliveries"]] == [
        (1, False, 500), (2, False, 500), (3, True, 200)]
    assert stored["deliveries"][0]["error"] == "HTTP 500 Internal Server Error"
    gaps = [(b - a).total_seconds() for a, b in zip(
        *[[datetime.fromisoformat(d["at"]) for d in stored["deliveries"]][i:] for i in (0, 1)])]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09  # 0.05 s, then doubled
    assert len(hook.received) == 3 and {r["alert"]["id"] for r in hook.received} == {alert["id"]}
    assert hook.received[0]["alert"]["key"] == "TSLA" and hook.received[0]["type"] == "tunelab.monitor.alert"
    assert hook.headers[0]["X-Token"] == "s3cret"  # from the operator's secret store, never stored
    assert "s3cret" not in json.dumps(hub.store.get_config("markets"))
    assert hub.deliver().attempted == 0  # delivered alerts are not sent again


def test_an_undelivered_alert_survives_a_restart(registry: Any, hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    from tunelab.registry import Store

    hook.fail_first = 0
    hub = define(registry, f"http://127.0.0.1:{closed_port()}/hooks/secret-token")
    [alert] = hub.get("markets").ingest(burst("TSLA", 0, count=5)).alerts
    deliver_until(hub, lambda: hub.store.get_alert(alert["id"])["attempts"] >= 2)
    failed = hub.store.get_alert(alert["id"])
    assert failed["status"] == "pending" and failed["last_error"] and not any(d["ok"] for d in failed["deliveries"])
    assert "secret-token" not in caplog.text  # the log names the host, not the URL's path

    # restart: a new process with a fresh connection, the webhook fixed in the config
    restarted = Store(registry.url)
    try:
        hub2 = define(restarted, hook.url)
        deliver_until(hub2, lambda: hub2.store.get_alert(alert["id"])["status"] == "delivered")
        assert [r["alert"]["id"] for r in hook.received] == [alert["id"]]
        assert hub2.store.list_alerts("markets", status="pending") == []
        assert [d["ok"] for d in hub2.store.get_alert(alert["id"])["deliveries"]][-1] is True
    finally:
        restarted.close()


def test_two_deliverers_do_not_both_send(registry: Any, hook: Hook) -> None:
    hook.fail_first = 0
    hub = define(registry, hook.url)
    [alert] = hub.get("markets").ingest(burst("TSLA", 0, count=5)).alerts
    row = hub.store.due_alerts(datetime.now(UTC) + timedelta(seconds=1))[0]
    lease = datetime.now(UTC) + timedelta(seconds=60)
    assert hub.store.claim(row.id, row.next_attempt_at, lease) is True
    assert hub.store.claim(row.id, row.next_attempt_at, lease) is False  # the second one lost the race
    assert hub.deliver().attempted == 0 and hook.received == [] and alert["id"] == row.id


def test_backoff_doubles_up_to_the_cap() -> None:
    webhook = WebhookConfig("http://x", backoff_s=2, max_backoff_s=60)
    assert [backoff_delay(webhook, n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_post_json_reports_refused_connections() -> None:
    result = post_json(WebhookConfig(f"http://127.0.0.1:{closed_port()}/x", timeout_s=2), {"a": 1}, LOOPBACK)
    assert not result.ok and result.status_code is None and "Connection refused" in (result.error or "")


def test_alerts_wait_while_no_webhook_is_known(registry: Any) -> None:
    hub = define(registry, "http://127.0.0.1:9/hook")
    hub.get("markets").ingest(burst("TSLA", 0, count=5))
    report = deliver_due(hub.store, lambda name: None, hub.sender)
    assert report.attempted == 0 and len(hub.store.list_alerts("markets", status="pending")) == 1
