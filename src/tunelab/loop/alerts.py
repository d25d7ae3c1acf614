"""Drift alerts, written to the news monitor's alert outbox (`monitor_alerts`) so the same webhooks deliver them.

An alert names a monitor: with `via` (a monitor defined in the registry that has a webhook) it is written `pending`
and the server's delivery pass posts it to that monitor's webhook, retried until it succeeds; without `via` it is
recorded as `logged` under the monitor name `drift` (listed by `tunelab monitor alerts` and the dashboard, never
posted). One alert per model version within `cooldown_s`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tunelab.apps.monitor.engine import AlertDraft
from tunelab.apps.monitor.store import MonitorStore
from tunelab.errors import UsageError
from tunelab.loop.drift import DriftReport

RULE = "drift"
KIND = "model"
LOGGED_AS = "drift"  # the monitor name of drift alerts that no webhook delivers
COOLDOWN_S = 24 * 3600.0


@dataclass(frozen=True)
class AlertOutcome:
    alert_id: int | None  # None: nothing written (no drift, or within the cool-down)
    monitor: str
    status: str  # "pending" (a webhook will deliver it), "logged", "cooldown" or "none"


def alert_key(report: DriftReport) -> str:
    return f"{report.model}@{report.version}" if report.version is not None else report.model


def alert_message(report: DriftReport) -> str:
    names = ", ".join(c.name for c in report.drifted)
    return f"{alert_key(report)}: input drift in {len(report.drifted)} check(s) ({names}) over {report.window} texts"


def raise_drift_alert(engine: Any, report: DriftReport, *, via: str | None = None,
                      cooldown_s: float = COOLDOWN_S, now: float | None = None) -> AlertOutcome:
    """Write the report's alert if it found drift (see the module docstring)."""
    store = MonitorStore(engine)
    monitor = LOGGED_AS if via is None else _webhook_monitor(store, via)
    if report.verdict != "drift":
        return AlertOutcome(None, monitor, "none")
    at = time.time() if now is None else now
    key = alert_key(report)
    for rule, kind, last_key, last_at in store.last_alerts(monitor):
        if (rule, kind, last_key) == (RULE, KIND, key) and last_at is not None \
                and at - last_at.timestamp() < cooldown_s:
            return AlertOutcome(None, monitor, "cooldown")
    details = {"window": report.window, "reference": report.reference,
               "checks": [{"name": c.name, "statistic": c.statistic, "p_value": c.p_value, "effect": c.effect,
                           "min_effect": c.min_effect, "drifted": c.drifted} for c in report.checks]}
    draft = AlertDraft(RULE, KIND, key, at, at, float(len(report.drifted)), details, alert_message(report))
    (alert_id,) = store.write_batch(monitor, 3600.0, [], [draft], webhook=via is not None)
    return AlertOutcome(alert_id, monitor, "pending" if via is not None else "logged")


def _webhook_monitor(store: MonitorStore, name: str) -> str:
    """`name` must be a defined monitor with a webhook (else the alert would wait for ever)."""
    config = store.get_config(name)  # NotFoundError names the missing monitor
    if not config.get("webhook"):
        raise UsageError(f"monitor {name!r} has no webhook to deliver drift alerts",
                         hint="add a webhook to its config, or leave --alert-via out to only record the alert")
    return name


def drift_alert_since(engine: Any, model: str, version: int, since: datetime | None) -> int | None:
    """The id of the newest drift alert on `model@version` raised at or after `since` (through any monitor), or
    None."""
    rows = MonitorStore(engine).list_alerts(rule=RULE, key=f"{model}@{version}", since=since, limit=1)
    return int(rows[0]["id"]) if rows else None
