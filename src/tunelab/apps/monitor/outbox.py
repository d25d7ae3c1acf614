"""Webhook delivery from the alert outbox: at-least-once, retried with exponential backoff, every attempt recorded.

An alert is written with status `pending` in the same transaction that raised it; a delivery pass posts the due
ones and marks them `delivered`, or records the failure and schedules the next attempt (backoff doubling up to
`max_backoff`). Nothing is ever dropped: an alert stays pending across restarts until a delivery succeeds.
Receivers should dedupe on the alert `id` (a crash between the POST and the commit re-sends it).

Destinations (scheme, host, port) are served concurrently, each by at most one worker at a time, so a slow
receiver holds up only its own alerts; a pass waits at most `wait_s` for them and leaves the slow ones running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tunelab.apps.monitor.config import WebhookConfig
from tunelab.apps.monitor.store import MonitorStore, alert_dict
from tunelab.apps.monitor.webhook import SendResult
from tunelab.redact import redact_url

log = logging.getLogger("tunelab.monitor")
DELIVERY_WORKERS = 8  # destinations served at once

Sender = Callable[[WebhookConfig, dict[str, Any]], SendResult]
__all__ = ["DeliveryReport", "Outbox", "SendResult", "Sender", "backoff_delay", "deliver_due", "payload_for"]


@dataclass(frozen=True)
class DeliveryReport:
    attempted: int
    delivered: int
    failed: int
    in_flight: int = 0  # destinations still being served when the pass stopped waiting


def backoff_delay(webhook: WebhookConfig, attempts: int) -> float:
    """Seconds before attempt `attempts + 1` after `attempts` failures: backoff, 2x backoff, 4x ... up to the cap."""
    return min(webhook.backoff_s * 2 ** max(0, min(attempts - 1, 40)), webhook.max_backoff_s)


def payload_for(alert: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "monitor", "rule", "kind", "key", "at", "window_start", "value", "details", "message")
    return {"type": "tunelab.monitor.alert", "alert": {k: alert[k] for k in keep}}


def destination(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:
        return url


class Outbox:
    """Delivery passes over the store's due alerts, with a pool of workers kept between passes."""

    def __init__(self, store: MonitorStore, webhooks: Callable[[str], WebhookConfig | None], sender: Sender,
                 *, workers: int = DELIVERY_WORKERS) -> None:
        self.store, self.webhooks, self.sender = store, webhooks, sender
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tunelab-webhook")
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def run(self, *, now: datetime | None = None, limit: int = 100, wait_s: float | None = None) -> DeliveryReport:
        """One pass: every pending alert whose next attempt is due, grouped by destination. `webhooks(monitor)`
        gives the monitor's current webhook (None: the alert stays pending). Waits at most `wait_s` (None: until
        every destination is done); a destination still busy from an earlier pass is skipped."""
        groups: dict[str, list[tuple[Any, WebhookConfig]]] = {}
        for row in self.store.due_alerts(now or datetime.now(UTC), limit):
            webhook = self.webhooks(row.monitor)
            if webhook is not None:
                groups.setdefault(destination(webhook.url), []).append((row, webhook))
        futures: list[Future[tuple[int, int]]] = []
        with self._lock:
            for where, items in groups.items():
                if where not in self._busy:
                    self._busy.add(where)
                    futures.append(self._pool.submit(self._serve, where, items))
        done, pending = wait_for(futures, timeout=wait_s)
        attempted = sum(f.result()[0] for f in done)
        delivered = sum(f.result()[1] for f in done)
        return DeliveryReport(attempted, delivered, attempted - delivered, len(pending))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _serve(self, where: str, items: Sequence[tuple[Any, WebhookConfig]]) -> tuple[int, int]:
        """One destination's due alerts in order; stops at the first failure (the rest wait for the next pass)."""
        attempted = delivered = 0
        try:
            for row, webhook in items:
                lease = datetime.now(UTC) + timedelta(seconds=webhook.timeout_s + 30)
                if not self.store.claim(row.id, row.next_attempt_at, lease):
                    continue
                attempted += 1
                ok = self._attempt(row, webhook)
                delivered += ok
                if not ok:
                    break
        except Exception:  # noqa: BLE001 - a worker must not die silently: the alert stays pending
            log.exception("webhook delivery to %s failed unexpectedly", where)
        finally:
            with self._lock:
                self._busy.discard(where)
        return attempted, delivered

    def _attempt(self, row: Any, webhook: WebhookConfig) -> bool:
        attempt = int(row.attempts) + 1
        result = self.sender(webhook, payload_for(alert_dict(row)))
        where = redact_url(webhook.url)  # never the credentials, path or query: they often carry a secret token
        if result.ok:
            self.store.record_attempt(row.id, attempt, ok=True, status_code=result.status_code, error=None,
                                      next_at=None)
            log.info("alert %s delivered to %s (attempt %d)", row.id, where, attempt)
            return True
        delay = backoff_delay(webhook, attempt)
        self.store.record_attempt(row.id, attempt, ok=False, status_code=result.status_code, error=result.error,
                                  next_at=datetime.now(UTC) + timedelta(seconds=delay))
        log.warning("alert %s: webhook %s failed (attempt %d: %s); next try in %.1f s", row.id, where, attempt,
                    result.error, delay)
        return False


def deliver_due(store: MonitorStore, webhooks: Callable[[str], WebhookConfig | None], sender: Sender,
                *, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
    """One complete pass (waits for every destination) with a pool of its own."""
    outbox = Outbox(store, webhooks, sender)
    try:
        return outbox.run(now=now, limit=limit)
    finally:
        outbox.close()
