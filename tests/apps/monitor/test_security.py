"""Security regressions of the news monitor (issue 13, findings 1-6): webhook secrets, SSRF, server-side file reads,
far-future timestamps, a slow receiver, credentials in URLs. HTTP servers here listen on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.apps.monitor.conftest import T0, Hook, KeywordClassifier, burst, event, monitor_raw
from tunelab.apps.monitor.config import WebhookConfig, load_monitor_config, parse_monitor_config
from tunelab.apps.monitor.hub import MonitorHub
from tunelab.apps.monitor.monitor import Monitor
from tunelab.errors import ConfigError, DataError, UsageError

SECRET = "s3cret-value"


def loopback_policy(**extra: Any) -> Any:
    from tunelab.apps.monitor.policy import MonitorPolicy, WebhookSecrets

    return MonitorPolicy(**{"webhook_hosts": ("127.0.0.1",), "allow_private": True,
                            "secrets": WebhookSecrets({"hook_token": SECRET}), **extra})


def hub_for(registry: Any, url: str, policy: Any = None, name: str = "markets", **webhook: Any) -> MonitorHub:
    hub = MonitorHub(registry, classifier=KeywordClassifier(), policy=policy or loopback_policy())
    hub.define(name, {**monitor_raw(webhook={"url": url, "backoff": 0.05, "timeout": 2, **webhook}), "name": name})
    return hub


def deliver_until(hub: MonitorHub, done: Any, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, "delivery did not finish in time"
        hub.deliver()
        time.sleep(0.02)


# ---- 1. header values never expand the server's environment -----------------------------------------------------

def test_environment_placeholders_in_headers_are_refused(registry: Any, hook: Hook,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_DB", "postgresql://app:db-password@db/prod")
    hub = MonitorHub(registry, classifier=KeywordClassifier())
    raw = monitor_raw(webhook={"url": hook.url, "headers": {"X-Env-Db": "${TUNELAB_DB}"}})
    with pytest.raises(ConfigError) as caught:
        hub.define("markets", raw)
    assert "webhook.headers.X-Env-Db" in str(caught.value) and "secret" in str(caught.value)
    assert "db-password" not in str(caught.value)


def test_header_secrets_come_from_the_operators_store(registry: Any, hook: Hook) -> None:
    hook.fail_first = 0
    hub = hub_for(registry, hook.url, headers={"X-Token": "Bearer ${secret:hook_token}"})
    [alert] = hub.get("markets").ingest(burst("TSLA", 0, count=5)).alerts
    deliver_until(hub, lambda: hub.store.get_alert(alert["id"])["status"] == "delivered")
    assert hook.headers[0]["X-Token"] == f"Bearer {SECRET}"
    assert SECRET not in json.dumps(hub.store.get_config("markets"))  # the reference is stored, not the value

    with pytest.raises(ConfigError) as caught:  # an unknown name is a config error that shows no value
        hub.define("markets", monitor_raw(webhook={"url": hook.url, "headers": {"X-Token": "${secret:nope}"}}))
    assert "nope" in str(caught.value) and SECRET not in str(caught.value)


def test_the_secrets_file(tmp_path: Path) -> None:
    from tunelab.apps.monitor.policy import load_webhook_secrets

    path = tmp_path / "secrets.yaml"
    path.write_text("hook_token: abc\nother: def\n", encoding="utf-8")
    os.chmod(path, 0o600)
    secrets = load_webhook_secrets(path)
    assert secrets.names == ("hook_token", "other") and "abc" not in repr(secrets)
    path.write_text("hook_token: [not, a, string]\nok: fine\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="hook_token") as caught:
        load_webhook_secrets(path)
    assert "fine" not in str(caught.value)
    assert load_webhook_secrets("").names == ()


# ---- 2. SSRF: allow-list, private addresses, redirects, what non-admins see ---------------------------------------

def test_webhook_hosts_are_an_allow_list(registry: Any) -> None:
    from tunelab.apps.monitor.policy import MonitorPolicy

    hub = MonitorHub(registry, classifier=KeywordClassifier(), policy=MonitorPolicy())  # the default: none
    with pytest.raises(ConfigError, match=r"webhook\.url: host '127\.0\.0\.1' is not in the server's webhook_hosts"):
        hub.define("markets", monitor_raw(webhook="http://127.0.0.1:9/hook"))
    policy = MonitorPolicy(webhook_hosts=("hooks.example.com", "*.corp.example", "10.1.2.3:8443"))
    assert policy.host_allowed("https://HOOKS.example.com/x") and policy.host_allowed("https://a.corp.example/")
    assert not policy.host_allowed("https://corp.example/") and not policy.host_allowed("https://evil.com/")
    assert policy.host_allowed("https://10.1.2.3:8443/") and not policy.host_allowed("https://10.1.2.3/")


def test_private_addresses_are_refused_unless_allowed(registry: Any, hook: Hook) -> None:
    hook.fail_first = 0
    hub = hub_for(registry, hook.url, policy=loopback_policy(allow_private=False))
    [alert] = hub.get("markets").ingest(burst("TSLA", 0, count=5)).alerts
    deliver_until(hub, lambda: hub.store.get_alert(alert["id"])["attempts"] >= 1)
    stored = hub.store.get_alert(alert["id"])
    assert stored["status"] == "pending" and "private" in stored["last_error"] and hook.received == []


def test_the_checked_address_is_the_one_connected_to(hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.apps.monitor import webhook as transport

    real = socket.getaddrinfo
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", hook.port))]])  # a 2nd lookup fails

    def lookup(host: str, *args: Any, **kwargs: Any) -> Any:
        return next(answers) if host == "hooks.example.test" else real(host, *args, **kwargs)

    monkeypatch.setattr(transport.socket, "getaddrinfo", lookup)
    hook.fail_first = 0
    policy = loopback_policy(webhook_hosts=("hooks.example.test",))
    result = transport.post_json(WebhookConfig(f"http://hooks.example.test:{hook.port}/x", timeout_s=2), {"a": 1},
                                 policy)
    assert result.ok and hook.headers[0]["Host"] == f"hooks.example.test:{hook.port}"

    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]])
    refused = transport.post_json(WebhookConfig("http://hooks.example.test/x", timeout_s=2), {"a": 1},
                                  loopback_policy(webhook_hosts=("hooks.example.test",), allow_private=False))
    assert not refused.ok and "169.254.169.254" in (refused.error or "") and len(hook.received) == 1


@pytest.fixture
def redirector(hook: Hook) -> Iterator[str]:
    """A receiver on 127.0.0.1 that answers 302 to the `hook` receiver."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", hook.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/r"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_redirects_are_not_followed(registry: Any, hook: Hook, redirector: str) -> None:
    hook.fail_first = 0
    hub = hub_for(registry, redirector)
    [alert] = hub.get("markets").ingest(burst("TSLA", 0, count=5)).alerts
    deliver_until(hub, lambda: hub.store.get_alert(alert["id"])["attempts"] >= 1)
    stored = hub.store.get_alert(alert["id"])
    assert stored["status"] == "pending" and stored["deliveries"][0]["status_code"] == 302
    assert hook.received == []  # the redirect target was never posted to


def test_non_admins_see_only_a_generic_delivery_state(registry: Any) -> None:
    from tunelab.apps.monitor.views import alert_view, public_alert

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    hub = hub_for(registry, f"http://127.0.0.1:{port}/hook")
    [alert] = hub.get("markets").ingest(burst("TSLA", 0, count=5)).alerts
    deliver_until(hub, lambda: hub.store.get_alert(alert["id"])["attempts"] >= 1)
    full = hub.store.get_alert(alert["id"])
    assert "refused" in full["last_error"].lower()
    seen = public_alert(full)
    assert seen["last_error"] == "delivery failed" and seen["attempts"] == full["attempts"]
    assert seen["deliveries"] == [{"attempt": 1, "at": full["deliveries"][0]["at"], "ok": False}]
    assert "refused" not in json.dumps(seen).lower() and alert_view(full, admin=True) == full
    assert [public_alert(a)["last_error"] for a in hub.store.list_alerts("markets")] == ["delivery failed"]


# ---- 3. configs over the API read no file; model folders stay under the allowed roots ----------------------------

def test_rules_given_as_a_string_are_never_read(tmp_path: Path) -> None:
    leak = tmp_path / "leak.json"
    leak.write_text(json.dumps([{"type": "hunter2-password"}]), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        parse_monitor_config({**monitor_raw(), "rules": str(leak)}, source="request body")
    assert "rules: must be a list of rules" in str(caught.value) and "hunter2" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_cli_config_reads_are_bounded(tmp_path: Path) -> None:
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)
    (tmp_path / "monitor.yaml").write_text(yaml.safe_dump({**monitor_raw(), "rules": "rules.yaml"}), encoding="utf-8")
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _catch(outcome, load_monitor_config, tmp_path / "monitor.yaml"),
                              daemon=True)
    worker.start()
    worker.join(timeout=5)
    if worker.is_alive():  # the unfixed reader blocks in open(): release it before failing
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "w"):
            pass
        pytest.fail("reading a FIFO as the rules file hung")
    assert isinstance(outcome[0], ConfigError) and "not a regular file" in str(outcome[0])
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 2_000_001)
    with pytest.raises(ConfigError, match="larger than"):
        load_monitor_config(big)


def _catch(out: list[BaseException], func: Any, *args: Any) -> None:
    try:
        func(*args)
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        out.append(exc)


def test_check_under(tmp_path: Path) -> None:
    from tunelab.paths import check_under

    root, outside = tmp_path / "runs", tmp_path / "elsewhere"
    (root / "run").mkdir(parents=True)
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    assert check_under(root / "run", [root]) == (root / "run").resolve()
    assert check_under(str(root / "new" / "..") + "/run", [str(root)]) == (root / "run").resolve()
    for bad in (outside, root / "escape", root / ".." / "elsewhere", f"{root}/run\x00"):
        with pytest.raises(UsageError):
            check_under(bad, [root])
    with pytest.raises(UsageError, match="no folder is allowed"):
        check_under(root / "run", [])


def test_model_folders_are_checked_against_the_runs_root(registry: Any, sentiment_run: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    (root / "link").symlink_to(sentiment_run)  # inside by name, outside once resolved
    hub = MonitorHub(registry, policy=loopback_policy(model_roots=(str(root),)))
    for model in (str(sentiment_run), str(root / "link")):
        with pytest.raises(ConfigError, match="sentiment.model .* is outside the allowed folders"):
            hub.define("markets", monitor_raw(model))
    assert MonitorHub(registry, policy=loopback_policy(model_roots=(str(sentiment_run.parent),))).define(
        "markets", monitor_raw(str(sentiment_run))).config.name == "markets"


# ---- 4. a far-future timestamp cannot silence a monitor ------------------------------------------------------------

def test_far_future_events_are_refused_and_change_nothing(registry: Any, config: Any) -> None:
    monitor = Monitor.open(config, registry, KeywordClassifier())
    future = event("$TSLA plunges after downgrade", 0)
    future = type(future)(future.text, datetime(9999, 12, 31, tzinfo=UTC), "wire", future.tickers)
    with pytest.raises(DataError) as caught:
        monitor.ingest([event("$TSLA files report", 0), future])
    problem = caught.value.problems[0]
    assert (problem.path, problem.column) == ("events[1]", "timestamp") and "ahead of the server clock" in str(problem)
    assert monitor.store.latest_item_time("markets") is None  # nothing of that batch was stored
    assert [a["key"] for a in monitor.ingest(burst("TSLA", 0, count=5)).alerts] == ["TSLA"]


def test_a_database_poisoned_by_a_future_item_recovers(registry: Any, config: Any) -> None:
    from tunelab.apps.monitor.engine import AlertDraft
    from tunelab.apps.monitor.store import ItemRow

    store = Monitor.open(config, registry, KeywordClassifier()).store
    far = datetime(9999, 1, 1, tzinfo=UTC).timestamp()  # stored before the check existed: an item and an alert
    item = ItemRow("f" * 64, far, "wire", "$TSLA plunges", "bearish", -0.8, True, False, None, ("TSLA",), (),
                   (("all", "*"), ("ticker", "TSLA")))
    alert = AlertDraft("ticker-negative", "ticker", "TSLA", far, far - 3600, 1.0, {}, "far future")
    store.write_batch("markets", 3600, [item], [alert], webhook=False)
    reopened = Monitor.open(config, registry, KeywordClassifier(), save=False)
    assert reopened.engine.clock is None or reopened.engine.clock < time.time() + 3600
    assert [a["key"] for a in reopened.ingest(burst("TSLA", 0, count=5)).alerts] == ["TSLA"]
    assert T0.timestamp() < time.time()  # the fixtures' events are in the past: replay-like history is accepted


# ---- 5. one slow receiver does not hold up the others ------------------------------------------------------------

@pytest.fixture
def slow_hook() -> Iterator[tuple[str, threading.Event]]:
    """A receiver on 127.0.0.1 that answers nothing until released (at most 10 s): (url, release)."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            release.wait(10)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/slow", release
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_slow_receiver_does_not_delay_another(registry: Any, hook: Hook,
                                                 slow_hook: tuple[str, threading.Event]) -> None:
    hook.fail_first = 0
    slow = hub_for(registry, slow_hook[0], name="slow", timeout=8)
    slow.define("fast", {**monitor_raw(webhook={"url": hook.url, "timeout": 8}), "name": "fast"})
    [slow_alert] = slow.get("slow").ingest(burst("TSLA", 0, count=5)).alerts  # older: first in the outbox
    [fast_alert] = slow.get("fast").ingest(burst("TSLA", 0, count=5)).alerts
    worker = threading.Thread(target=slow.deliver, daemon=True)
    started = time.monotonic()
    worker.start()
    while not hook.received and time.monotonic() - started < 4:
        time.sleep(0.02)
    assert [r["alert"]["id"] for r in hook.received] == [fast_alert["id"]], "the fast receiver waited"
    assert time.monotonic() - started < 4
    assert slow.store.get_alert(slow_alert["id"])["status"] == "pending"  # still hanging on the slow one
    slow_hook[1].set()
    worker.join(timeout=12)
    if hasattr(slow, "close"):
        slow.close()


def test_timeouts_and_backoff_are_capped() -> None:
    for key, value in (("timeout", "1h"), ("timeout", 31), ("backoff", "2h"), ("max_backoff", "2d")):
        with pytest.raises(ConfigError, match=rf"webhook\.{key}: at most"):
            parse_monitor_config(monitor_raw(webhook={"url": "https://hooks.example.com/x", key: value}))


# ---- 6. credentials in a webhook URL ---------------------------------------------------------------------------

def test_credentials_in_the_url_are_refused_and_redacted(registry: Any) -> None:
    from tunelab.apps.monitor.views import redacted_config
    from tunelab.redact import redact_url

    with pytest.raises(ConfigError) as caught:
        parse_monitor_config(monitor_raw(webhook="https://alice:pa55word@hooks.example.com/x"))
    assert "webhook.url" in str(caught.value) and "${secret:" in str(caught.value)
    assert "pa55word" not in str(caught.value)
    assert redact_url("https://alice:pa55word@hooks.example.com:8443/T0/B1/tok?x=1") == \
        "https://***@hooks.example.com:8443/..."
    assert redact_url("http://[::1]:9/") == "http://[::1]:9"
    stored = {"name": "m", "webhook": {"url": "https://alice:pa55word@hooks.example.com/x"}}
    assert redacted_config(stored)["webhook"]["url"] == "https://***@hooks.example.com/x"


def test_the_cli_delivers_only_to_the_hosts_it_is_given(tmp_path: Path, hook: Hook, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import invoke_cli, isolated_cli_env
    from tunelab.apps.monitor import tables as t
    from tunelab.registry import Store

    db = isolated_cli_env(tmp_path, monkeypatch)
    hook.fail_first = 0
    store = Store(db)
    try:
        hub = hub_for(store, hook.url, headers={"X-Token": "${secret:hook_token}"})
        [alert] = hub.get("markets").ingest(burst("TSLA", 0, count=5)).alerts
        hub.close()
        refused = invoke_cli(["monitor", "deliver", "--db", db], monkeypatch, capsys)
        assert refused.code == 0 and "0 delivered, 1 failed" in refused.out and hook.received == []
        assert "webhook_hosts" in (hub.store.get_alert(alert["id"])["last_error"] or "")
        secrets = tmp_path / "secrets.yaml"
        secrets.write_text(f"hook_token: {SECRET}\n", encoding="utf-8")
        secrets.chmod(0o600)
        with store.engine.begin() as conn:  # due again now, instead of waiting for the backoff
            conn.execute(t.monitor_alerts.update().values(next_attempt_at=datetime.now(UTC)))
        sent = invoke_cli(["monitor", "deliver", "--webhook-host", "127.0.0.1", "--allow-private-webhooks",
                           "--webhook-secrets", str(secrets), "--db", db], monkeypatch, capsys)
        assert sent.code == 0 and "1 delivered" in sent.out, sent.out + sent.err
        assert hook.headers[0]["X-Token"] == SECRET
    finally:
        store.close()
