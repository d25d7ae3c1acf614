"""Wire types of the monitor application: monitor configs, events in, alerts and aggregates out."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tunelab.serving.schemas.common import Body, Out

MAX_EVENTS = 1000


class EventIn(Body):
    text: str = Field(min_length=1, max_length=20_000)
    timestamp: str | float = Field(description="ISO 8601 (no zone: UTC) or seconds since the epoch")
    source: str = Field("", max_length=128)
    tickers: list[str] | None = Field(None, max_length=100, description="e.g. [\"TSLA\"]; $TICKERs in the text "
                                                                       "are found anyway")
    entities: list[str] | None = Field(None, max_length=100)


class EventsIn(Body):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class MonitorIn(Body):
    config: dict[str, Any] = Field(description="The monitor config as in the YAML file (rules inline)")


class MonitorDefined(Out):
    name: str
    rules: list[str]
    window_s: float
    webhook: bool


class MonitorOut(Out):
    name: str
    config: dict[str, Any]
    created_at: str | None = None
    updated_at: str | None = None


class MonitorList(Out):
    monitors: list[MonitorOut]


class AlertOut(Out):
    id: int
    monitor: str
    rule: str
    kind: str
    key: str
    at: str
    window_start: str | None = None
    value: float
    details: dict[str, Any]
    message: str
    status: str | None = Field(None, description="pending (webhook not yet delivered), delivered or logged")
    attempts: int | None = None
    next_attempt_at: str | None = None
    last_error: str | None = None
    delivered_at: str | None = None
    created_at: str | None = None


class DeliveryOut(Out):
    """One webhook delivery attempt; `status_code` and `error` are shown to admin keys only."""

    id: int | None = None
    alert_id: int | None = None
    attempt: int
    at: str
    ok: bool
    status_code: int | None = None
    error: str | None = None


class AlertDetail(AlertOut):
    deliveries: list[DeliveryOut] = []


class AlertList(Out):
    alerts: list[AlertOut]


class EventsResult(Out):
    accepted: int
    duplicates: int
    alerts: list[AlertOut]


class AggregateOut(Out):
    """One window of one ticker / entity / topic (kind `all`: the whole stream)."""

    window_start: str
    window_s: int
    kind: str
    key: str
    volume: int
    negative: int
    positive: int
    negative_share: float
    mean_score: float


class AggregateList(Out):
    aggregates: list[AggregateOut]
