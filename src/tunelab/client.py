"""The Python SDK for a TuneLab server: `Client` (sync) and `AsyncClient` (async), both over httpx.

    from tunelab import Client
    with Client("http://127.0.0.1:8000", api_key="tl_...") as client:
        result = client.predict("intents", ["where is my parcel?"])
        print(result.predictions[0].label)
        client.feedback(result.predictions[0].id, label="shipping")

Results are typed dataclasses; the server's errors come back as the same exception classes
(`NotFoundError`, `AuthError`, `RateLimitError`, ...). Every method is written once, in `_Api`:
it builds the request and names the parser; `Client` sends it now, `AsyncClient` returns an awaitable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from tunelab.errors import RateLimitError, TunelabError, UsageError, error_from_code
from tunelab.types import Span


@dataclass(frozen=True)
class ServedPrediction:
    """One prediction from the server: `id` (for feedback) and the task's fields."""

    id: str
    label: str | None = None
    score: float | None = None
    probabilities: dict[str, float] | None = None
    labels: tuple[str, ...] | None = None
    scores: dict[str, float] | None = None
    spans: tuple[Span, ...] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServedPrediction:
        spans = d.get("spans")
        return cls(id=d["id"], label=d.get("label"), score=d.get("score"), probabilities=d.get("probabilities"),
                   labels=tuple(d["labels"]) if d.get("labels") is not None else None, scores=d.get("scores"),
                   spans=tuple(Span(**s) for s in spans) if spans is not None else None)


@dataclass(frozen=True)
class PredictResult:
    model: str
    version: int
    task: str
    predictions: list[ServedPrediction]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PredictResult:
        return cls(d["model"], int(d["version"]), d["task"], [ServedPrediction.from_dict(p) for p in d["predictions"]])


@dataclass(frozen=True)
class FeedbackResult:
    id: int
    prediction_id: str
    model: str
    version: int
    correct: bool | None
    created_at: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeedbackResult:
        return cls(int(d["id"]), d["prediction_id"], d["model"], int(d["version"]), d.get("correct"), d["created_at"])


@dataclass(frozen=True)
class MonitorAlert:
    """An alert raised by a monitor rule; `status`: pending (webhook not yet delivered), delivered or logged."""

    id: int
    monitor: str
    rule: str
    kind: str
    key: str
    at: str
    value: float
    message: str
    details: dict[str, Any]
    status: str | None = None
    attempts: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MonitorAlert:
        return cls(int(d["id"]), d["monitor"], d["rule"], d["kind"], d["key"], d["at"], float(d["value"]),
                   d["message"], dict(d.get("details") or {}), d.get("status"), d.get("attempts"))


@dataclass(frozen=True)
class EventsResult:
    accepted: int
    duplicates: int
    alerts: list[MonitorAlert]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EventsResult:
        return cls(int(d["accepted"]), int(d["duplicates"]), [MonitorAlert.from_dict(a) for a in d["alerts"]])


@dataclass(frozen=True)
class Aggregate:
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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Aggregate:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def _timestamp(value: Any) -> Any:
    from datetime import datetime

    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class AssistantReply:
    """An assistant's answer: `id` (for feedback), the route (intent, faq, handoff), confidence and evidence."""

    id: str
    assistant: str
    version: int
    conversation_id: str
    route: str
    label: str
    answer: str | None
    confidence: float
    evidence: dict[str, Any]
    suggestions: list[dict[str, Any]]
    handoff_id: int | None
    raw: dict[str, Any]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AssistantReply:
        return cls(d["id"], d["assistant"], int(d["version"]), d["conversation_id"], d["route"], d["label"],
                   d.get("answer"), float(d["confidence"]), dict(d.get("evidence") or {}),
                   list(d.get("suggestions") or []), d.get("handoff_id"), dict(d))


@dataclass(frozen=True)
class HandoffInfo:
    """A question handed to a human; `label` and `reply` once resolved."""

    id: int
    assistant: str
    question: str
    status: str
    suggestions: list[dict[str, Any]]
    label: str | None
    reply: str | None
    conversation_id: str
    turn_id: str
    raw: dict[str, Any]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HandoffInfo:
        return cls(int(d["id"]), d["assistant"], d["question"], d["status"], list(d.get("suggestions") or []),
                   d.get("label"), d.get("reply"), d["conversation_id"], d["turn_id"], dict(d))


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    parse: Callable[[Any], Any]
    json: Any = None
    params: Mapping[str, Any] | None = None


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        code, message, details = body["code"], body["message"], body.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", f"HTTP {response.status_code}: {response.text[:200]}", {}
    if response.status_code == 429 and "retry_after" not in details:
        details["retry_after"] = float(response.headers.get("retry-after", 1))
    raise error_from_code(code, message, details)


def _seg(value: object) -> str:
    """One URL path segment, escaped; '.' and '..' would be normalised away into another route."""
    text = str(value)
    if text in ("", ".", ".."):
        raise UsageError(f"invalid name {text!r} in a URL path")
    return quote(text, safe="@")


def _ident(x: Any) -> Any:
    return x


class _Api:
    """The API's calls, each described once. Subclasses implement `_send(call)`."""

    def _send(self, call: _Call) -> Any:  # pragma: no cover - implemented by Client / AsyncClient
        raise NotImplementedError

    def predict(self, model: str, texts: Sequence[str] | str, *, version: int | str | None = None,
                caller_id: str | None = None) -> Any:
        """Predict for texts with `model` (`version` may be a number or an alias such as "production")."""
        if isinstance(texts, str):
            texts = [texts]
        ref = f"{model}@{version}" if version is not None else model
        body: dict[str, Any] = {"inputs": list(texts)}
        if caller_id is not None:
            body["caller_id"] = caller_id
        return self._send(_Call("POST", f"/v1/models/{_seg(ref)}/predict", PredictResult.from_dict, body))

    def feedback(self, prediction_id: str, *, label: str | Iterable[Any] | None = None, thumb: int | None = None,
                 comment: str | None = None) -> Any:
        """Send the correct label (labels, or spans as dicts/Span), a thumb (+1/-1) and/or a comment."""
        if label is not None and not isinstance(label, str):
            label = [{"start": x.start, "end": x.end, "label": x.label} if isinstance(x, Span) else x for x in label]
        body = {k: v for k, v in {"prediction_id": prediction_id, "label": label, "thumb": thumb,
                                  "comment": comment}.items() if v is not None}
        return self._send(_Call("POST", "/v1/feedback", FeedbackResult.from_dict, body))

    def models(self) -> Any:
        return self._send(_Call("GET", "/v1/models", lambda d: d["models"]))

    def model(self, name: str) -> Any:
        return self._send(_Call("GET", f"/v1/models/{_seg(name)}", _ident))

    def register(self, name: str, run_path: str, *, alias: str | None = None, description: str = "") -> Any:
        body = {"run_path": run_path, "alias": alias, "description": description}
        return self._send(_Call("POST", f"/v1/models/{_seg(name)}/versions", _ident, body))

    def promote(self, name: str, version: int, alias: str = "production") -> Any:
        return self._send(_Call("PUT", f"/v1/models/{_seg(name)}/aliases/{_seg(alias)}", _ident, {"version": version}))

    def rollback(self, name: str, alias: str = "production") -> Any:
        return self._send(_Call("POST", f"/v1/models/{_seg(name)}/aliases/{_seg(alias)}/rollback", _ident))

    def set_split(self, name: str, weights: Mapping[int, float]) -> Any:
        body = {"weights": {str(k): float(v) for k, v in weights.items()}}
        return self._send(_Call("PUT", f"/v1/models/{_seg(name)}/split",
                                lambda d: {int(k): v for k, v in d["weights"].items()}, body))

    def ab_report(self, name: str, *, alpha: float = 0.05, min_samples: int = 30) -> Any:
        return self._send(_Call("GET", f"/v1/models/{_seg(name)}/ab-report", _ident,
                                params={"alpha": alpha, "min_samples": min_samples}))

    def predictions(self, **filters: Any) -> Any:
        params = {k: v for k, v in filters.items() if v is not None}
        return self._send(_Call("GET", "/v1/predictions", lambda d: d["predictions"], params=params))

    def create_key(self, name: str, scopes: Sequence[str], *, rate_per_s: float | None = None,
                   burst: int | None = None) -> Any:
        body = {"name": name, "scopes": list(scopes), "rate_per_s": rate_per_s, "burst": burst}
        return self._send(_Call("POST", "/v1/keys", _ident, body))

    def keys(self) -> Any:
        return self._send(_Call("GET", "/v1/keys", lambda d: d["keys"]))

    def revoke_key(self, key_id: str) -> Any:
        return self._send(_Call("DELETE", f"/v1/keys/{_seg(key_id)}", _ident))

    # ---- assistant --------------------------------------------------------------------------------

    def ask(self, assistant: str, question: str, *, conversation_id: str | None = None,
            version: int | None = None) -> Any:
        """Ask an assistant one question; the reply carries the route, confidence, evidence and answer."""
        body = {k: v for k, v in {"question": question, "conversation_id": conversation_id,
                                  "version": version}.items() if v is not None}
        return self._send(_Call("POST", f"/v1/assistants/{_seg(assistant)}/ask", AssistantReply.from_dict, body))

    def assistants(self) -> Any:
        return self._send(_Call("GET", "/v1/assistants", lambda d: d["assistants"]))

    def register_assistant(self, name: str, path: str) -> Any:
        return self._send(_Call("POST", f"/v1/assistants/{_seg(name)}/versions", _ident, {"path": path}))

    def conversation(self, assistant: str, conversation_id: str) -> Any:
        return self._send(_Call("GET", f"/v1/assistants/{_seg(assistant)}/conversations/{_seg(conversation_id)}",
                                lambda d: d["turns"]))

    def handoffs(self, assistant: str, *, status: str = "open", limit: int = 100) -> Any:
        """The hand-off queue (`status`: open, resolved or all)."""
        return self._send(_Call("GET", f"/v1/assistants/{_seg(assistant)}/handoffs",
                                lambda d: [HandoffInfo.from_dict(h) for h in d["handoffs"]],
                                params={"status": status, "limit": limit}))

    def resolve_handoff(self, assistant: str, handoff_id: int, label: str, *, reply: str | None = None) -> Any:
        """Resolve a hand-off with the right intent, FAQ id or out_of_scope (and the human's reply)."""
        body = {k: v for k, v in {"label": label, "reply": reply}.items() if v is not None}
        return self._send(_Call("POST", f"/v1/assistants/{_seg(assistant)}/handoffs/{int(handoff_id)}/resolve",
                                HandoffInfo.from_dict, body))

    # ---- monitor ----------------------------------------------------------------------------------

    def define_monitor(self, name: str, config: Mapping[str, Any]) -> Any:
        """Create or replace a monitor from its config (the YAML's content as a dict, rules inline)."""
        return self._send(_Call("PUT", f"/v1/monitors/{_seg(name)}", _ident, {"config": dict(config)}))

    def monitors(self) -> Any:
        return self._send(_Call("GET", "/v1/monitors", lambda d: d["monitors"]))

    def send_events(self, monitor: str, events: Iterable[Mapping[str, Any]]) -> Any:
        """Post news items ({text, timestamp, source, tickers?, entities?}); returns EventsResult with the
        alerts they raised. Timestamps may be datetimes, ISO 8601 text or epoch seconds."""
        body = {"events": [{**e, "timestamp": _timestamp(e.get("timestamp"))} for e in events]}
        return self._send(_Call("POST", f"/v1/monitors/{_seg(monitor)}/events", EventsResult.from_dict, body))

    def alerts(self, monitor: str, **filters: Any) -> Any:
        """Alerts, newest first; filters: rule, key, status, since, until, limit."""
        params = {k: _timestamp(v) for k, v in filters.items() if v is not None}
        return self._send(_Call("GET", f"/v1/monitors/{_seg(monitor)}/alerts",
                                lambda d: [MonitorAlert.from_dict(a) for a in d["alerts"]], params=params))

    def alert(self, monitor: str, alert_id: int) -> Any:
        """One alert as a dict, with every webhook delivery attempt."""
        return self._send(_Call("GET", f"/v1/monitors/{_seg(monitor)}/alerts/{int(alert_id)}", _ident))

    def aggregates(self, monitor: str, **filters: Any) -> Any:
        """Windowed aggregates, newest first; filters: kind, key, since, until, limit."""
        params = {k: _timestamp(v) for k, v in filters.items() if v is not None}
        return self._send(_Call("GET", f"/v1/monitors/{_seg(monitor)}/aggregates",
                                lambda d: [Aggregate.from_dict(a) for a in d["aggregates"]], params=params))

    def health(self) -> Any:
        return self._send(_Call("GET", "/v1/health", _ident))

    def ready(self) -> Any:
        return self._send(_Call("GET", "/v1/ready", _ident))


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"user-agent": "tunelab-sdk"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


class Client(_Api):
    """Synchronous client. `retries`: how often a 429 (after its Retry-After) or a refused connection
    is retried before the error is raised."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 30.0, retries: int = 2,
                 transport: Any = None) -> None:
        self.retries = retries
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=_headers(api_key), timeout=timeout,
                                  transport=transport)

    def _send(self, call: _Call) -> Any:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(call.method, call.path, json=call.json, params=call.params)
                _raise_for(response)
                return call.parse(response.json())
            except RateLimitError as exc:
                if attempt == self.retries:
                    raise
                time.sleep(min(exc.retry_after, 30.0))
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise TunelabError(f"cannot reach the TuneLab server at {self._http.base_url}: {exc}") from None
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Api):
    """The same API for asyncio: every method returns an awaitable."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 30.0, retries: int = 2,
                 transport: Any = None) -> None:
        self.retries = retries
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), headers=_headers(api_key), timeout=timeout,
                                       transport=transport)

    async def _send(self, call: _Call) -> Any:
        for attempt in range(self.retries + 1):
            try:
                response = await self._http.request(call.method, call.path, json=call.json, params=call.params)
                _raise_for(response)
                return call.parse(response.json())
            except RateLimitError as exc:
                if attempt == self.retries:
                    raise
                await asyncio.sleep(min(exc.retry_after, 30.0))
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise TunelabError(f"cannot reach the TuneLab server at {self._http.base_url}: {exc}") from None
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
