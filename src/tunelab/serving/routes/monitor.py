"""HTTP routes of the monitor application (`tunelab.apps.monitor`): define monitors, post events, read alerts and
aggregates. Webhook deliveries run in the background every few seconds while the server runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI, Query
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field

from tunelab.apps.monitor.config import SCOPES
from tunelab.apps.monitor.events import parse_events
from tunelab.apps.monitor.hub import MonitorHub
from tunelab.errors import UsageError
from tunelab.registry.names import check_name
from tunelab.serving.auth import Caller
from tunelab.serving.deps import require
from tunelab.serving.schemas import ErrorOut

DELIVERY_INTERVAL_S = 2.0
MAX_EVENTS = 1000
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422,
                                                                                  429)}


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000)
    timestamp: str | float = Field(description="ISO 8601 (no zone: UTC) or seconds since the epoch")
    source: str = Field("", max_length=128)
    tickers: list[str] | None = Field(None, max_length=100, description="e.g. [\"TSLA\"]; $TICKERs in the text "
                                                                       "are found anyway")
    entities: list[str] | None = Field(None, max_length=100)


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class MonitorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] = Field(description="The monitor config as in the YAML file (rules inline)")


def _clean(value: str | None, what: str) -> str | None:
    if value is not None and ("\x00" in value or len(value) > 128):
        raise UsageError(f"{what} must be at most 128 characters without NUL bytes")
    return value


def hub_of(state: Any) -> MonitorHub:
    """The server's monitor hub (created on first use): the API routes and the dashboard share it."""
    hub = state.extensions.get("monitor")
    if hub is None:
        hub = state.extensions["monitor"] = MonitorHub(state.store)
    return hub


def install(app: FastAPI, state: Any) -> None:
    """Add the monitor routes (and any background work) to the app."""
    hub = hub_of(state)
    state.on_start.append(lambda: state.every(DELIVERY_INTERVAL_S, hub.deliver, first=DELIVERY_INTERVAL_S))
    scope = require
    tags = ["monitor"]

    @app.put("/v1/monitors/{name}", tags=tags, responses=ERRORS)
    def define_monitor(name: str, body: MonitorIn, _caller: Caller = scope("admin")) -> dict[str, Any]:
        """Create or replace a monitor: its models are loaded and checked before the config is stored."""
        monitor = hub.define(check_name(name, "monitor name"), body.config)
        config = monitor.config
        return {"name": config.name, "rules": [r.name for r in config.rules], "window_s": config.window_s,
                "webhook": config.webhook is not None}

    @app.get("/v1/monitors", tags=tags, responses=ERRORS)
    def list_monitors(_caller: Caller = scope("admin")) -> dict[str, Any]:
        return {"monitors": hub.store.list_monitors()}

    @app.get("/v1/monitors/{name}", tags=tags, responses=ERRORS)
    def show_monitor(name: str, _caller: Caller = scope("admin")) -> dict[str, Any]:
        return {"name": name, "config": hub.store.get_config(check_name(name, "monitor name"))}

    @app.post("/v1/monitors/{name}/events", tags=tags, responses=ERRORS)
    def post_events(name: str, body: EventsIn, _caller: Caller = scope("predict")) -> dict[str, Any]:
        """Ingest news items: duplicates (same text) are dropped; the answer lists the alerts they raised."""
        monitor = hub.get(check_name(name, "monitor name"))
        events = parse_events([(f"events[{i}]", None, e.model_dump()) for i, e in enumerate(body.events)])
        return monitor.ingest(events).to_dict()

    @app.get("/v1/monitors/{name}/alerts", tags=tags, responses=ERRORS)
    def list_alerts(name: str, rule: str | None = None, key: str | None = None, status: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    limit: int = Query(100, ge=1, le=10_000), _caller: Caller = scope("predict")) -> dict[str, Any]:
        """Alerts, newest first (event time), with their webhook delivery state."""
        hub.store.get_config(check_name(name, "monitor name"))
        return {"alerts": hub.store.list_alerts(name, rule=_clean(rule, "rule"), key=_clean(key, "key"),
                                                status=_clean(status, "status"), since=since, until=until,
                                                limit=limit)}

    @app.get("/v1/monitors/{name}/alerts/{alert_id}", tags=tags, responses=ERRORS)
    def show_alert(name: str, alert_id: int = FastPath(ge=1, le=2**31 - 1),
                   _caller: Caller = scope("predict")) -> dict[str, Any]:
        """One alert with every delivery attempt."""
        alert = hub.store.get_alert(alert_id)
        if alert["monitor"] != check_name(name, "monitor name"):
            from tunelab.errors import NotFoundError

            raise NotFoundError(f"monitor {name!r} has no alert {alert_id}")
        return alert

    @app.get("/v1/monitors/{name}/aggregates", tags=tags, responses=ERRORS)
    def list_aggregates(name: str, kind: str | None = None, key: str | None = None, since: datetime | None = None,
                        until: datetime | None = None, limit: int = Query(1000, ge=1, le=10_000),
                        _caller: Caller = scope("predict")) -> dict[str, Any]:
        """Per window and ticker / entity / topic / all: volume, negative share, mean score; newest first."""
        hub.store.get_config(check_name(name, "monitor name"))
        if kind is not None and kind not in SCOPES:
            raise UsageError(f"kind must be one of {', '.join(SCOPES)}")
        return {"aggregates": hub.store.list_aggregates(name, kind=kind, key=_clean(key, "key"), since=since,
                                                        until=until, limit=limit)}
