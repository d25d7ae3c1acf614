"""HTTP routes of the monitor application (`tunelab.apps.monitor`): define monitors, post events, read alerts and
aggregates. Webhook deliveries run in the background while the server runs (see `services.start`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from fastapi import Path as FastPath

from tunelab.apps.monitor.config import SCOPES
from tunelab.apps.monitor.events import parse_events
from tunelab.apps.monitor.views import alert_view, redacted_config
from tunelab.errors import NotFoundError, UsageError
from tunelab.registry.names import check_name
from tunelab.serving.auth import is_admin
from tunelab.serving.deps import AdminCaller, PredictCaller, ServicesDep
from tunelab.serving.schemas import (
    ERRORS,
    AggregateList,
    AlertDetail,
    AlertList,
    EventsIn,
    EventsResult,
    MonitorDefined,
    MonitorIn,
    MonitorList,
    MonitorOut,
)

router = APIRouter(tags=["monitor"], responses=ERRORS)


def _clean(value: str | None, what: str) -> str | None:
    if value is not None and ("\x00" in value or len(value) > 128):
        raise UsageError(f"{what} must be at most 128 characters without NUL bytes")
    return value


@router.put("/v1/monitors/{name}", response_model=MonitorDefined)
def define_monitor(name: str, body: MonitorIn, services: ServicesDep, _caller: AdminCaller) -> MonitorDefined:
    """Create or replace a monitor: its models are loaded and checked before the config is stored."""
    config = services.hub.define(check_name(name, "monitor name"), body.config).config
    return MonitorDefined(name=config.name, rules=[r.name for r in config.rules], window_s=config.window_s,
                          webhook=config.webhook is not None)


@router.get("/v1/monitors", response_model=MonitorList)
def list_monitors(services: ServicesDep, _caller: AdminCaller) -> MonitorList:
    rows = [{**m, "config": redacted_config(m["config"])} for m in services.hub.store.list_monitors()]
    return MonitorList.model_validate({"monitors": rows})


@router.get("/v1/monitors/{name}", response_model=MonitorOut)
def show_monitor(name: str, services: ServicesDep, _caller: AdminCaller) -> MonitorOut:
    config = services.hub.store.get_config(check_name(name, "monitor name"))
    return MonitorOut(name=name, config=redacted_config(config))


@router.post("/v1/monitors/{name}/events", response_model=EventsResult)
def post_events(name: str, body: EventsIn, services: ServicesDep, _caller: PredictCaller) -> EventsResult:
    """Ingest news items: duplicates (same text) are dropped; the answer lists the alerts they raised."""
    monitor = services.hub.get(check_name(name, "monitor name"))
    events = parse_events([(f"events[{i}]", None, e.model_dump()) for i, e in enumerate(body.events)])
    return EventsResult.model_validate(monitor.ingest(events).to_dict())


@router.get("/v1/monitors/{name}/alerts", response_model=AlertList)
def list_alerts(name: str, services: ServicesDep, caller: PredictCaller, rule: str | None = None,
                key: str | None = None, status: str | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int = Query(100, ge=1, le=10_000)) -> AlertList:
    """Alerts, newest first (event time), with their webhook delivery state."""
    services.hub.store.get_config(check_name(name, "monitor name"))
    rows = services.hub.store.list_alerts(name, rule=_clean(rule, "rule"), key=_clean(key, "key"),
                                          status=_clean(status, "status"), since=since, until=until, limit=limit)
    admin = is_admin(caller)  # delivery errors (hosts, ports, status codes) are for admins only
    return AlertList.model_validate({"alerts": [alert_view(a, admin=admin) for a in rows]})


@router.get("/v1/monitors/{name}/alerts/{alert_id}", response_model=AlertDetail)
def show_alert(name: str, services: ServicesDep, caller: PredictCaller,
               alert_id: int = FastPath(ge=1, le=2**31 - 1)) -> AlertDetail:
    """One alert with every delivery attempt."""
    alert = services.hub.store.get_alert(alert_id)
    if alert["monitor"] != check_name(name, "monitor name"):
        raise NotFoundError(f"monitor {name!r} has no alert {alert_id}")
    return AlertDetail.model_validate(alert_view(alert, admin=is_admin(caller)))


@router.get("/v1/monitors/{name}/aggregates", response_model=AggregateList)
def list_aggregates(name: str, services: ServicesDep, _caller: PredictCaller, kind: str | None = None,
                    key: str | None = None, since: datetime | None = None, until: datetime | None = None,
                    limit: int = Query(1000, ge=1, le=10_000)) -> AggregateList:
    """Per window and ticker / entity / topic / all: volume, negative share, mean score; newest first."""
    services.hub.store.get_config(check_name(name, "monitor name"))
    if kind is not None and kind not in SCOPES:
        raise UsageError(f"kind must be one of {', '.join(SCOPES)}")
    rows = services.hub.store.list_aggregates(name, kind=kind, key=_clean(key, "key"), since=since, until=until,
                                              limit=limit)
    return AggregateList.model_validate({"aggregates": rows})
