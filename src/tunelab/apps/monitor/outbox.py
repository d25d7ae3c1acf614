"""Webhook delivery from the alert outbox: at-least-once, retried with exponential backoff, every attempt recorded.

An alert is written with status `pending` in the same transaction that raised it; `deliver_due` posts the due
ones and marks them `delivered`, or records the failure and schedules the next attempt (backoff doubling up to
`max_backoff`). Nothing is ever dropped: an alert stays pending across restarts until a delivery succeeds.
Receivers should dedupe on the alert `id` (a crash between the POST and the commit re-sends it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tunelab.apps.monitor.config import WebhookConfig
from tunelab.apps.monitor.store import MonitorStore, alert_dict

log = logging.getLogger("tunelab.monitor")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None


Sender = Callable[[WebhookConfig, dict[str, Any]], SendResult]


@dataclass(frozen=True)
class DeliveryReport:
    attempted: int
    delivered: int
    failed: int


def post_json(webhook: WebhookConfig, payload: dict[str, Any]) -> SendResult:
    """POST the payload as JSON; any 2xx is a success. Header values may name environment variables (`${X}`)."""
    headers = {"Content-Type": "application/json", "User-Agent": "tunelab-monitor"}
    headers.update({k: _ENV.sub(lambda m: os.environ.get(m.group(1), ""), v) for k, v in webhook.headers.items()})
    request = urllib.request.Request(webhook.url, data=json.dumps(payload).encode("utf-8"), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=webhook.timeout_s) as response:  # noqa: S310 - http(s) only
            return SendResult(200 <= response.status < 300, response.status)
    except urllib.error.HTTPError as exc:
        return SendResult(False, exc.code, f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return SendResult(False, None, f"{type(exc).__name__}: {reason}"[:500])


def backoff_delay(webhook: WebhookConfig, attempts: int) -> float:
    """Seconds before attempt `attempts + 1` after `attempts` failures: backoff, 2x backoff, 4x ... up to the cap."""
    return min(webhook.backoff_s * 2 ** max(0, min(attempts - 1, 40)), webhook.max_backoff_s)


def payload_for(alert: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "monitor", "rule", "kind", "key", "at", "window_start", "value", "details", "message")
    return {"type": "tunelab.monitor.alert", "alert": {k: alert[k] for k in keep}}


def deliver_due(store: MonitorStore, webhooks: Callable[[str], WebhookConfig | None],
                sender: Sender = post_json, *, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
    """One pass over the outbox: every pending alert whose next attempt is due. `webhooks(monitor)` gives the
    monitor's current webhook (None: the alert stays pending until a webhook is configured)."""
    now = now or datetime.now(UTC)
    attempted = delivered = 0
    for row in store.due_alerts(now, limit):
        webhook = webhooks(row.monitor)
        if webhook is None:
            continue
        lease = now + timedelta(seconds=webhook.timeout_s + 30)
        if not store.claim(row.id, row.next_attempt_at, lease):
            continue
        attempted += 1
        attempt = int(row.attempts) + 1
        result = sender(webhook, payload_for(alert_dict(row)))
        where = urlsplit(webhook.url).netloc  # never the path or query: they often carry a secret token
        if result.ok:
            delivered += 1
            store.record_attempt(row.id, attempt, ok=True, status_code=result.status_code, error=None, next_at=None)
            log.info("alert %s delivered to %s (attempt %d)", row.id, where, attempt)
            continue
        delay = backoff_delay(webhook, attempt)
        store.record_attempt(row.id, attempt, ok=False, status_code=result.status_code, error=result.error,
                             next_at=datetime.now(UTC) + timedelta(seconds=delay))
        log.warning("alert %s: webhook %s failed (attempt %d: %s); next try in %.1f s", row.id, where, attempt,
                    result.error, delay)
    return DeliveryReport(attempted, delivered, attempted - delivered)
