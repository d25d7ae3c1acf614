"""Monitor pages: the defined monitors; per monitor a volume / negative-share chart per key over the stored
windowed aggregates and the recent alerts with their evidence and webhook delivery state; one alert in full.

Everything is read through the server's `MonitorHub` store (`services.hub`, as the
`/v1/monitors` routes use it); the pages change nothing."""

from __future__ import annotations

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from tunelab.apps.monitor.config import SCOPES
from tunelab.errors import NotFoundError, UsageError
from tunelab.registry import check_name
from tunelab.serving.dashboard import monitoring
from tunelab.serving.dashboard.pages import Admin, new_router
from tunelab.serving.dashboard.web import render
from tunelab.serving.deps import services_of

router = new_router()
ALERTS_SHOWN = 50


@router.get("/monitor")
def monitors_page(request: Request, _admin: Admin) -> Response:
    store = services_of(request).hub.store
    rows = [{**m, "webhook_host": monitoring.webhook_host(m["config"]),
             "rules": [r.get("name") for r in m["config"].get("rules") or [] if isinstance(r, dict)],
             "alerts": store.list_alerts(m["name"], limit=1)} for m in store.list_monitors()]
    return render(request, "monitors.html", active="monitor", rows=rows)


@router.get("/monitor/{name}")
def monitor_page(request: Request, name: str, _admin: Admin, kind: str = Query("", max_length=16),
                 key: str = Query("", max_length=128)) -> Response:
    hub = services_of(request).hub
    config = hub.config(check_name(name, "monitor name"))
    if kind and kind not in SCOPES:
        raise UsageError(f"kind must be one of {', '.join(SCOPES)}")
    if "\x00" in key:
        raise UsageError("the key contains a NUL byte")
    series = monitoring.build_series(hub.store, name, config.window_s, kind or None, key.strip() or None)
    alerts = hub.store.list_alerts(name, limit=ALERTS_SHOWN)
    return render(request, "monitor.html", active="monitor", config=config, series=series,
                  chart_data=[s.to_dict() for s in series], alerts=alerts, kind=kind, key=key, scopes=SCOPES,
                  webhook_host=monitoring.webhook_host(config.raw))


@router.get("/monitor/{name}/alerts/{alert_id}")
def alert_page(request: Request, name: str, alert_id: int, _admin: Admin) -> Response:
    """One alert: its evidence, the stored items of its key in its window, and every delivery attempt."""
    hub = services_of(request).hub
    check_name(name, "monitor name")
    if not 1 <= alert_id <= 2**31 - 1:
        raise UsageError("alert ids are positive 32-bit numbers")
    alert = hub.store.get_alert(alert_id)
    if alert["monitor"] != name:
        raise NotFoundError(f"monitor {name!r} has no alert {alert_id}")
    items = monitoring.alert_items(hub.store, alert)
    return render(request, "alert.html", active="monitor", name=name, alert=alert, items=items,
                  items_max=monitoring.ITEMS_SHOWN)
