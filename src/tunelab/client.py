"""The Python SDK for a TuneLab server: `Client` (sync) and `AsyncClient` (async), both over httpx.

    from tunelab import Client
    with Client("http://127.0.0.1:8000", api_key="tl_...") as client:
        result = client.predict("intents", ["where is my parcel?"])
        print(result.predictions[0].label)
        client.feedback(result.predictions[0].id, label="shipping")

Results are the server's own wire types (`tunelab.serving.schemas`, pydantic; no FastAPI, no torch); the
server's errors come back as the same exception classes (`NotFoundError`, `AuthError`, `RateLimitError`, ...).
Every call is written once, as a function that builds a typed `Call[T]`; the `endpoint` descriptor makes it a
method that returns `T` on `Client` and an awaitable of `T` on `AsyncClient`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

import httpx

from tunelab.errors import RateLimitError, TunelabError, UsageError, error_from_code
from tunelab.serving import schemas as s
from tunelab.types import Span

T = TypeVar("T")
P = ParamSpec("P")

# the names earlier SDK versions used for the same results
PredictResult = s.PredictResponse
ServedPrediction = s.PredictionOut
FeedbackResult = s.FeedbackOut
MonitorAlert = s.AlertOut
EventsResult = s.EventsResult
Aggregate = s.AggregateOut
AssistantReply = s.AssistantReply
HandoffInfo = s.HandoffOut


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP call and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: Mapping[str, Any] | None = None


class endpoint(Generic[P, T]):  # noqa: N801 - used like a decorator
    """A call builder as a method: `Client.x(...) -> T`, `AsyncClient.x(...) -> Awaitable[T]`."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, _owner: type) -> endpoint[P, T]: ...

    @overload
    def __get__(self, obj: Client, _owner: type) -> Callable[P, T]: ...

    @overload
    def __get__(self, obj: AsyncClient, _owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: Client | AsyncClient | None, _owner: type) -> Any:
        if obj is None:
            return self
        build, sender = self.build, obj

        if isinstance(sender, AsyncClient):
            async def send_async(*args: P.args, **kwargs: P.kwargs) -> T:
                return await sender.send(build(*args, **kwargs))

            return functools.wraps(build)(send_async)

        def send(*args: P.args, **kwargs: P.kwargs) -> T:
            return sender.send(build(*args, **kwargs))

        return functools.wraps(build)(send)


def _seg(value: object) -> str:
    """One URL path segment, escaped; '.' and '..' would be normalised away into another route."""
    text = str(value)
    if text in ("", ".", ".."):
        raise UsageError(f"invalid name {text!r} in a URL path")
    return quote(text, safe="@")


def _timestamp(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# ---- the calls, each described once -------------------------------------------------------------------------


def predict(model: str, texts: Sequence[str] | str, *, version: int | str | None = None,
            caller_id: str | None = None, ood: bool = False, explain: bool = False,
            explain_method: s.ExplainMethod = "ig") -> Call[s.PredictResponse]:
    """Predict for texts with `model` (`version` may be a number or an alias such as "production"); `ood`: add
    an out-of-distribution score to each prediction (classification); `explain`: add token attributions
    (`explain_method` "ig" or "grad"; at most 16 texts)."""
    ref = f"{model}@{version}" if version is not None else model
    body = _present(inputs=[texts] if isinstance(texts, str) else list(texts), caller_id=caller_id,
                    ood=True if ood else None, explain=True if explain else None,
                    explain_method=explain_method if explain else None)
    return Call("POST", f"/v1/models/{_seg(ref)}/predict", s.PredictResponse.model_validate, body)


def explain(model: str, text: str, *, label: str | None = None, method: s.ExplainMethod = "ig", steps: int = 32,
            version: int | str | None = None, caller_id: str | None = None) -> Call[s.ExplainResponse]:
    """Token attributions for one text: which tokens pushed `model` toward (positive) or against (negative) each
    predicted label, or `label`; `method` "ig" (integrated gradients) or "grad" (gradient x input, faster)."""
    ref = f"{model}@{version}" if version is not None else model
    body = _present(text=text, label=label, method=method, steps=steps, caller_id=caller_id)
    return Call("POST", f"/v1/models/{_seg(ref)}/explain", s.ExplainResponse.model_validate, body)


def feedback(prediction_id: str, *, label: str | Iterable[Any] | None = None, thumb: int | None = None,
             comment: str | None = None) -> Call[s.FeedbackOut]:
    """Send the correct label (labels, or spans as dicts/Span), a thumb (+1/-1) and/or a comment."""
    if label is not None and not isinstance(label, str):
        label = [{"start": x.start, "end": x.end, "label": x.label} if isinstance(x, Span | s.SpanOut) else x
                 for x in label]
    body = _present(prediction_id=prediction_id, label=label, thumb=thumb, comment=comment)
    return Call("POST", "/v1/feedback", s.FeedbackOut.model_validate, body)


def models() -> Call[list[s.ModelOut]]:
    return Call("GET", "/v1/models", lambda d: s.ModelList.model_validate(d).models)


def model(name: str) -> Call[s.ModelOut]:
    return Call("GET", f"/v1/models/{_seg(name)}", s.ModelOut.model_validate)


def version(name: str, number: int) -> Call[s.VersionDetail]:
    """One version with its run's manifest."""
    return Call("GET", f"/v1/models/{_seg(name)}/versions/{int(number)}", s.VersionDetail.model_validate)


def register(name: str, run_path: str, *, alias: str | None = None, description: str = "") -> Call[s.VersionOut]:
    body = {"run_path": run_path, "alias": alias, "description": description}
    return Call("POST", f"/v1/models/{_seg(name)}/versions", s.VersionOut.model_validate, body)


def promote(name: str, version: int, alias: str = "production") -> Call[s.VersionOut]:
    return Call("PUT", f"/v1/models/{_seg(name)}/aliases/{_seg(alias)}", s.VersionOut.model_validate,
                {"version": version})


def rollback(name: str, alias: str = "production") -> Call[s.VersionOut]:
    return Call("POST", f"/v1/models/{_seg(name)}/aliases/{_seg(alias)}/rollback", s.VersionOut.model_validate)


def aliases(name: str) -> Call[s.AliasHistory]:
    return Call("GET", f"/v1/models/{_seg(name)}/aliases", s.AliasHistory.model_validate)


def set_split(name: str, weights: Mapping[int, float]) -> Call[dict[int, float]]:
    body = {"weights": {str(k): float(v) for k, v in weights.items()}}
    return Call("PUT", f"/v1/models/{_seg(name)}/split", lambda d: s.SplitOut.model_validate(d).weights, body)


def ab_report(name: str, *, alpha: float = 0.05, min_samples: int = 30) -> Call[s.ABReportOut]:
    return Call("GET", f"/v1/models/{_seg(name)}/ab-report", s.ABReportOut.model_validate,
                params={"alpha": alpha, "min_samples": min_samples})


def predictions(*, model: str | None = None, version: int | None = None, max_score: float | None = None,
                without_feedback: bool | None = None, limit: int | None = None,
                kind: str | None = None) -> Call[list[s.LoggedPrediction]]:
    """Logged predictions, newest first (admin); `kind`: model (default), assistant or all."""
    params = _present(model=model, version=version, max_score=max_score, without_feedback=without_feedback,
                      limit=limit, kind=kind)
    return Call("GET", "/v1/predictions", lambda d: s.PredictionList.model_validate(d).predictions, params=params)


def create_key(name: str, scopes: Sequence[str], *, rate_per_s: float | None = None,
               burst: int | None = None) -> Call[s.KeyCreated]:
    body = {"name": name, "scopes": list(scopes), "rate_per_s": rate_per_s, "burst": burst}
    return Call("POST", "/v1/keys", s.KeyCreated.model_validate, body)


def keys() -> Call[list[s.KeyOut]]:
    return Call("GET", "/v1/keys", lambda d: s.KeyList.model_validate(d).keys)


def revoke_key(key_id: str) -> Call[s.KeyOut]:
    return Call("DELETE", f"/v1/keys/{_seg(key_id)}", s.KeyOut.model_validate)


def ask(assistant: str, question: str, *, conversation_id: str | None = None,
        version: int | None = None) -> Call[s.AssistantReply]:
    """Ask an assistant one question; the reply carries the route, confidence, evidence and answer."""
    body = _present(question=question, conversation_id=conversation_id, version=version)
    return Call("POST", f"/v1/assistants/{_seg(assistant)}/ask", s.AssistantReply.model_validate, body)


def assistants() -> Call[list[s.AssistantVersionOut]]:
    return Call("GET", "/v1/assistants", lambda d: s.AssistantList.model_validate(d).assistants)


def register_assistant(name: str, path: str) -> Call[s.AssistantVersionOut]:
    return Call("POST", f"/v1/assistants/{_seg(name)}/versions", s.AssistantVersionOut.model_validate,
                {"path": path})


def conversation(assistant: str, conversation_id: str) -> Call[list[s.TurnOut]]:
    return Call("GET", f"/v1/assistants/{_seg(assistant)}/conversations/{_seg(conversation_id)}",
                lambda d: s.ConversationOut.model_validate(d).turns)


def handoffs(assistant: str, *, status: str = "open", limit: int = 100) -> Call[list[s.HandoffOut]]:
    """The hand-off queue (`status`: open, resolved or all)."""
    return Call("GET", f"/v1/assistants/{_seg(assistant)}/handoffs",
                lambda d: s.HandoffList.model_validate(d).handoffs, params={"status": status, "limit": limit})


def resolve_handoff(assistant: str, handoff_id: int, label: str, *, reply: str | None = None) -> Call[s.HandoffOut]:
    """Resolve a hand-off with the right intent, FAQ id or out_of_scope (and the human's reply)."""
    return Call("POST", f"/v1/assistants/{_seg(assistant)}/handoffs/{int(handoff_id)}/resolve",
                s.HandoffOut.model_validate, _present(label=label, reply=reply))


def define_monitor(name: str, config: Mapping[str, Any]) -> Call[s.MonitorDefined]:
    """Create or replace a monitor from its config (the YAML's content as a dict, rules inline)."""
    return Call("PUT", f"/v1/monitors/{_seg(name)}", s.MonitorDefined.model_validate, {"config": dict(config)})


def monitors() -> Call[list[s.MonitorOut]]:
    return Call("GET", "/v1/monitors", lambda d: s.MonitorList.model_validate(d).monitors)


def send_events(monitor: str, events: Iterable[Mapping[str, Any]]) -> Call[s.EventsResult]:
    """Post news items ({text, timestamp, source, tickers?, entities?}); the answer lists the alerts they raised.
    Timestamps may be datetimes, ISO 8601 text or epoch seconds."""
    body = {"events": [{**e, "timestamp": _timestamp(e.get("timestamp"))} for e in events]}
    return Call("POST", f"/v1/monitors/{_seg(monitor)}/events", s.EventsResult.model_validate, body)


def alerts(monitor: str, *, rule: str | None = None, key: str | None = None, status: str | None = None,
           since: datetime | str | None = None, until: datetime | str | None = None,
           limit: int | None = None) -> Call[list[s.AlertOut]]:
    """Alerts, newest first."""
    params = _present(rule=rule, key=key, status=status, since=_timestamp(since), until=_timestamp(until),
                      limit=limit)
    return Call("GET", f"/v1/monitors/{_seg(monitor)}/alerts", lambda d: s.AlertList.model_validate(d).alerts,
                params=params)


def alert(monitor: str, alert_id: int) -> Call[s.AlertDetail]:
    """One alert with every webhook delivery attempt."""
    return Call("GET", f"/v1/monitors/{_seg(monitor)}/alerts/{int(alert_id)}", s.AlertDetail.model_validate)


def aggregates(monitor: str, *, kind: str | None = None, key: str | None = None, since: datetime | str | None = None,
               until: datetime | str | None = None, limit: int | None = None) -> Call[list[s.AggregateOut]]:
    """Windowed aggregates, newest first."""
    params = _present(kind=kind, key=key, since=_timestamp(since), until=_timestamp(until), limit=limit)
    return Call("GET", f"/v1/monitors/{_seg(monitor)}/aggregates",
                lambda d: s.AggregateList.model_validate(d).aggregates, params=params)


def recommenders() -> Call[list[s.RecommenderVersionOut]]:
    return Call("GET", "/v1/recommenders", lambda d: s.RecommenderList.model_validate(d).recommenders)


def register_recommender(name: str, path: str) -> Call[s.RecommenderVersionOut]:
    """Register a recommender build folder (under the server's runs folder) as the next version of `name`."""
    return Call("POST", f"/v1/recommenders/{_seg(name)}/versions", s.RecommenderVersionOut.model_validate,
                {"path": path})


def recommend(recommender: str, *, user_id: str | None = None, liked_items: Sequence[str] | None = None,
              query: str | None = None, k: int = 10, exclude_seen: bool = True,
              filters: Mapping[str, str] | None = None, version: int | None = None) -> Call[s.RecommendResponse]:
    """Top-k items, with reasons, for a known user, a few liked items or a free-text query (give one)."""
    body = _present(user_id=user_id, liked_items=list(liked_items) if liked_items is not None else None,
                    query=query, k=k, exclude_seen=exclude_seen, filters=dict(filters or {}), version=version)
    return Call("POST", f"/v1/recommenders/{_seg(recommender)}/recommend", s.RecommendResponse.model_validate, body)


def similar_items(recommender: str, item_id: str, *, k: int = 10, filters: Mapping[str, str] | None = None,
                  version: int | None = None) -> Call[s.RecommendResponse]:
    body = _present(item_id=item_id, k=k, filters=dict(filters or {}), version=version)
    return Call("POST", f"/v1/recommenders/{_seg(recommender)}/similar", s.RecommendResponse.model_validate, body)


def log_recommender_events(recommender: str, events: Iterable[Mapping[str, Any]]) -> Call[s.InteractionsLogged]:
    """Log {user_id, item_id, event (impression, click, ...), value?, timestamp? (epoch seconds)}."""
    body = {"events": [dict(e) for e in events]}
    return Call("POST", f"/v1/recommenders/{_seg(recommender)}/events", s.InteractionsLogged.model_validate, body)


def put_items(recommender: str, items: Iterable[Mapping[str, Any]]) -> Call[s.ItemsResult]:
    """Add or update items ({item_id, text, fields?}) without a rebuild; recommendable at once."""
    body = {"items": [dict(i) for i in items]}
    return Call("PUT", f"/v1/recommenders/{_seg(recommender)}/items", s.ItemsResult.model_validate, body)


def health() -> Call[s.HealthOut]:
    return Call("GET", "/v1/health", s.HealthOut.model_validate)


def ready() -> Call[s.ReadyOut]:
    return Call("GET", "/v1/ready", s.ReadyOut.model_validate)


def status() -> Call[s.StatusOut]:
    """What the server process holds (admin)."""
    return Call("GET", "/v1/status", s.StatusOut.model_validate)


class _Api:
    """Every call of the API as a method (see `endpoint`)."""

    predict = endpoint(predict)
    explain = endpoint(explain)
    feedback = endpoint(feedback)
    models = endpoint(models)
    model = endpoint(model)
    version = endpoint(version)
    register = endpoint(register)
    promote = endpoint(promote)
    rollback = endpoint(rollback)
    aliases = endpoint(aliases)
    set_split = endpoint(set_split)
    ab_report = endpoint(ab_report)
    predictions = endpoint(predictions)
    create_key = endpoint(create_key)
    keys = endpoint(keys)
    revoke_key = endpoint(revoke_key)
    ask = endpoint(ask)
    assistants = endpoint(assistants)
    register_assistant = endpoint(register_assistant)
    conversation = endpoint(conversation)
    handoffs = endpoint(handoffs)
    resolve_handoff = endpoint(resolve_handoff)
    define_monitor = endpoint(define_monitor)
    monitors = endpoint(monitors)
    send_events = endpoint(send_events)
    alerts = endpoint(alerts)
    alert = endpoint(alert)
    aggregates = endpoint(aggregates)
    recommenders = endpoint(recommenders)
    register_recommender = endpoint(register_recommender)
    recommend = endpoint(recommend)
    similar_items = endpoint(similar_items)
    log_recommender_events = endpoint(log_recommender_events)
    put_items = endpoint(put_items)
    health = endpoint(health)
    ready = endpoint(ready)
    status = endpoint(status)


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


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"user-agent": "tunelab-sdk"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _unreachable(url: object, exc: Exception) -> TunelabError:
    return TunelabError(f"cannot reach the TuneLab server at {url}: {exc}")


class Client(_Api):
    """Synchronous client. `retries`: how often a 429 (after its Retry-After) or a refused connection
    is retried before the error is raised."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 30.0, retries: int = 2,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.retries = retries
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=_headers(api_key), timeout=timeout,
                                  transport=transport)

    def send(self, call: Call[T]) -> T:
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
                    raise _unreachable(self._http.base_url, exc) from None
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
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.retries = retries
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), headers=_headers(api_key), timeout=timeout,
                                       transport=transport)

    async def send(self, call: Call[T]) -> T:
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
                    raise _unreachable(self._http.base_url, exc) from None
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
