"""The FastAPI app: `create_app(settings)`. Routes are thin; the predict path is in `state.py`.

Every error is JSON `{code, message, details}` with a 4xx status for anything the caller can fix.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request, Response
from fastapi import Path as FastPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunelab.errors import RateLimitError, TunelabError, UsageError
from tunelab.registry import check_name, parse_ref
from tunelab.registry.abstats import ab_report
from tunelab.registry.store import MAX_VERSION
from tunelab.serving import schemas as s
from tunelab.serving.auth import Caller
from tunelab.serving.deps import require
from tunelab.serving.settings import ServeSettings
from tunelab.serving.state import ServerState, valid_utf8

log = logging.getLogger("tunelab.serve")
ERRORS = {400: {"model": s.ErrorOut}, 401: {"model": s.ErrorOut}, 403: {"model": s.ErrorOut},
          404: {"model": s.ErrorOut}, 409: {"model": s.ErrorOut}, 413: {"model": s.ErrorOut},
          422: {"model": s.ErrorOut}, 429: {"model": s.ErrorOut}}


def error_response(status: int, code: str, message: str, details: dict | None = None,
                   headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": details or {}}, status_code=status,
                        headers=headers)


class LimitsMiddleware:
    """Pure ASGI: refuse oversized or non-UTF-8 bodies with a JSON 4xx before any route runs; count requests."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-content-type-options", b"nosniff"))
            await send(message)

        limit = self.state.settings.max_body_bytes
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > limit):
            response = error_response(413, "payload_too_large", f"request body over {limit} bytes")
            await response(scope, receive, send_wrapper)
        elif scope["method"] in ("POST", "PUT", "PATCH"):
            body, too_big = await _read_body(receive, limit)
            if too_big:
                await error_response(413, "payload_too_large", f"request body over {limit} bytes")(
                    scope, receive, send_wrapper)
            elif not valid_utf8(body):
                await error_response(400, "invalid_encoding", "the request body is not valid UTF-8")(
                    scope, receive, send_wrapper)
            else:
                await self.app(scope, _replay(body), send_wrapper)
        else:
            await self.app(scope, receive, send_wrapper)
        route = scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics = self.state.metrics
        metrics.requests.labels(path, scope["method"], str(status["code"])).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)


async def _read_body(receive: Any, limit: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def create_app(settings: ServeSettings, state: ServerState | None = None) -> FastAPI:
    state = state or ServerState(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        if not settings.auth:
            log.warning("authentication is OFF (--no-auth): anyone who can reach %s:%s is an admin",
                        settings.host, settings.port)
        await state.start()
        yield
        await state.stop()

    from importlib.metadata import version as package_version

    app = FastAPI(title="TuneLab", version=package_version("tunelab"), lifespan=lifespan,
                  description="Fine-tuned text models as a service: predict, feedback, versions, A/B, keys.")
    app.state.tunelab = state
    _install_error_handlers(app, state)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "PUT", "DELETE"], allow_headers=["*"])
    app.add_middleware(LimitsMiddleware, state=state)

    scope = require

    # ---- health ----------------------------------------------------------------------------------

    @app.get("/v1/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/v1/ready", tags=["health"], responses={503: {"model": s.ErrorOut}})
    def ready() -> Any:
        """Readiness: the database answers and its schema is current."""
        from tunelab.registry.db import current_revision

        try:
            revision = current_revision(state.store.engine)
        except Exception as exc:  # noqa: BLE001 - any database failure means not ready
            return error_response(503, "not_ready", f"database unavailable: {type(exc).__name__}")
        return {"status": "ready", "db": state.store.dialect, "schema": revision,
                "models_loaded": state.models.describe()}

    @app.get("/metrics", tags=["health"], response_class=Response, responses=ERRORS)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (they name API keys: an admin key is needed unless `metrics_public` is set)."""
        if not settings.metrics_public:
            state.auth.authenticate(request.headers, "admin")
        state.metrics.queued.set(state.batcher.queued())
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")

    # ---- predict and feedback --------------------------------------------------------------------

    @app.post("/v1/models/{name}/predict", tags=["predict"], response_model=s.PredictResponse,
              responses=ERRORS)
    async def predict(name: str, body: s.PredictRequest, request: Request,
                      caller: Caller = scope("predict")) -> Response:
        """Predict for a batch of texts. `name` may carry `@version` or `@alias` (e.g. `intents@production`)."""
        ref = parse_ref(name)
        caller_id = body.caller_id or request.headers.get("x-caller-id") or caller.key_id or (
            request.client.host if request.client else "")
        served = await state.predict(ref, body.inputs, caller, caller_id)
        payload = {"model": served.version.model, "version": served.version.version,
                   "task": served.version.task, "predictions": served.outputs}
        return Response(json.dumps(payload, ensure_ascii=False), media_type="application/json")

    @app.post("/v1/feedback", tags=["feedback"], status_code=201, response_model=s.FeedbackOut, responses=ERRORS)
    def feedback(body: s.FeedbackRequest, caller: Caller = scope("feedback")) -> Any:
        """Feedback on a prediction id: the correct label (or labels, or spans), a thumb, a comment."""
        label = body.label
        if isinstance(label, list):
            label = [x.model_dump() if hasattr(x, "model_dump") else x for x in label]
        row = state.store.add_feedback(body.prediction_id, label=label, thumb=body.thumb, comment=body.comment,
                                       key_id=caller.key_id)
        state.metrics.feedback.labels(row["model"], str(row["version"])).inc()
        return row

    # ---- models ----------------------------------------------------------------------------------

    @app.get("/v1/models", tags=["models"], responses=ERRORS)
    def list_models(_caller: Caller = scope("predict")) -> dict[str, Any]:
        return {"models": [m.to_dict() for m in state.store.list_models()]}

    @app.get("/v1/models/{name}", tags=["models"], responses=ERRORS)
    def show_model(name: str, _caller: Caller = scope("predict")) -> dict[str, Any]:
        return state.store.get_model(check_name(name)).to_dict()

    @app.get("/v1/models/{name}/versions/{version}", tags=["models"], responses=ERRORS)
    def show_version(name: str, version: int = FastPath(ge=1, le=MAX_VERSION),
                     _caller: Caller = scope("predict")) -> dict[str, Any]:
        info = state.store.get_version(check_name(name), version)
        manifest = _read_manifest(info.run_path)
        return {**info.to_dict(), "manifest": manifest}

    @app.post("/v1/models/{name}/versions", tags=["models"], status_code=201, responses=ERRORS)
    def register(name: str, body: s.RegisterRequest, caller: Caller = scope("admin")) -> dict[str, Any]:
        """Register a finished run folder (on the server's disk) as the next version of `name`."""
        check_name(name)
        if "\x00" in body.run_path:
            raise UsageError("run_path contains a NUL byte")
        run = Path(body.run_path).resolve()
        if settings.runs_root and not run.is_relative_to(Path(settings.runs_root).resolve()):
            raise UsageError("run_path must be inside the server's runs folder", hint=settings.runs_root)
        info = state.store.register(run, name, alias=body.alias, description=body.description,
                                    actor=caller.key_name)
        state.routes.invalidate(name)
        return info.to_dict()

    @app.put("/v1/models/{name}/aliases/{alias}", tags=["models"], responses=ERRORS)
    def set_alias(name: str, alias: str, body: s.AliasRequest, caller: Caller = scope("admin")) -> dict[str, Any]:
        """Point an alias (e.g. `production`) at a version: promote."""
        info = state.store.set_alias(check_name(name), alias, body.version, actor=caller.key_name)
        state.routes.invalidate(name)
        return info.to_dict()

    @app.post("/v1/models/{name}/aliases/{alias}/rollback", tags=["models"], responses=ERRORS)
    def rollback(name: str, alias: str, caller: Caller = scope("admin")) -> dict[str, Any]:
        """Move an alias back to the version it pointed at before its last move."""
        info = state.store.rollback_alias(check_name(name), alias, actor=caller.key_name)
        state.routes.invalidate(name)
        return info.to_dict()

    @app.get("/v1/models/{name}/aliases", tags=["models"], responses=ERRORS)
    def alias_history(name: str, _caller: Caller = scope("predict")) -> dict[str, Any]:
        return {"aliases": state.store.get_model(check_name(name)).aliases,
                "history": state.store.alias_history(name)}

    @app.get("/v1/models/{name}/split", tags=["ab"], responses=ERRORS)
    def get_split(name: str, _caller: Caller = scope("admin")) -> dict[str, Any]:
        state.store.get_model(check_name(name))
        return {"weights": {str(k): w for k, w in state.store.get_split(name).items()}}

    @app.put("/v1/models/{name}/split", tags=["ab"], responses=ERRORS)
    def put_split(name: str, body: s.SplitRequest, _caller: Caller = scope("admin")) -> dict[str, Any]:
        """Split traffic between versions by weight (sticky per caller); `{}` removes the split."""
        try:
            weights = {int(k): float(w) for k, w in body.weights.items()}
        except ValueError:
            raise UsageError("split keys must be version numbers, e.g. {\"3\": 0.9, \"4\": 0.1}") from None
        state.store.set_split(check_name(name), weights)
        state.routes.invalidate(name)
        return {"weights": {str(k): w for k, w in state.store.get_split(name).items()}}

    @app.get("/v1/models/{name}/ab-report", tags=["ab"], responses=ERRORS)
    def get_ab_report(name: str, alpha: float = Query(0.05, gt=0, lt=1), min_samples: int = Query(30, ge=1),
                      _caller: Caller = scope("admin")) -> dict[str, Any]:
        """Accuracy per version on feedback, confidence intervals, and whether the difference is significant."""
        state.store.get_model(check_name(name))  # 404 for an unknown model
        counts = state.store.feedback_counts(name)
        split = state.store.get_split(name)
        for version in split:
            counts.setdefault(version, (0, 0))
        return ab_report(name, counts, split or None, alpha=alpha, min_samples=min_samples).to_dict()

    # ---- logs ------------------------------------------------------------------------------------

    @app.get("/v1/predictions", tags=["logs"], responses=ERRORS)
    def list_predictions(model: str | None = None, version: int | None = Query(None, ge=1, le=MAX_VERSION),
                         max_score: float | None = Query(None, ge=0, le=1), without_feedback: bool = False,
                         limit: int = Query(100, ge=1, le=10_000), _caller: Caller = scope("admin")) -> Any:
        """Logged predictions, newest first; `max_score` keeps the low-confidence ones (review queue)."""
        return {"predictions": state.store.list_predictions(
            model=check_name(model) if model else None, version=version, max_score=max_score,
            without_feedback=without_feedback, limit=limit)}

    @app.get("/v1/predictions/{prediction_id}", tags=["logs"], responses=ERRORS)
    def show_prediction(prediction_id: str, _caller: Caller = scope("admin")) -> Any:
        return {**state.store.get_prediction(prediction_id),
                "feedback": state.store.list_feedback(prediction_id=prediction_id)}

    @app.get("/v1/feedback", tags=["feedback"], responses=ERRORS)
    def list_feedback(model: str | None = None, version: int | None = Query(None, ge=1, le=MAX_VERSION),
                      limit: int = Query(1000, ge=1, le=100_000), _caller: Caller = scope("admin")) -> Any:
        return {"feedback": state.store.list_feedback(model=check_name(model) if model else None,
                                                      version=version, limit=limit)}

    # ---- keys ------------------------------------------------------------------------------------

    @app.post("/v1/keys", tags=["keys"], status_code=201, response_model=s.KeyCreated, responses=ERRORS)
    def create_key(body: s.KeyCreateRequest, _caller: Caller = scope("admin")) -> Any:
        """Create an API key. The key is in this response only: store it now."""
        info, token = state.store.create_key(body.name, body.scopes, rate_per_s=body.rate_per_s, burst=body.burst)
        return {"key": token, "id": info.id, "name": info.name, "scopes": list(info.scopes)}

    @app.get("/v1/keys", tags=["keys"], responses=ERRORS)
    def list_keys(_caller: Caller = scope("admin")) -> dict[str, Any]:
        """Keys with their usage counters (never the keys themselves)."""
        state.usage.flush()
        return {"keys": [k.to_dict() for k in state.store.list_keys()]}

    @app.get("/v1/keys/{key_id}", tags=["keys"], responses=ERRORS)
    def show_key(key_id: str, _caller: Caller = scope("admin")) -> dict[str, Any]:
        state.usage.flush()
        return state.store.get_key(key_id).to_dict()

    @app.delete("/v1/keys/{key_id}", tags=["keys"], responses=ERRORS)
    def revoke_key(key_id: str, _caller: Caller = scope("admin")) -> dict[str, Any]:
        info = state.store.revoke_key(key_id)
        state.auth.forget(info.id)
        return info.to_dict()

    from tunelab.serving.routes import install_all

    install_all(app, state)
    return app


def _read_manifest(run_path: str) -> dict[str, Any]:
    try:
        return json.loads((Path(run_path) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _install_error_handlers(app: FastAPI, state: ServerState) -> None:
    def count(request: Request, code: str) -> None:
        caller = getattr(request.state, "caller", None)
        state.metrics.errors.labels(code, caller.label if caller else "anonymous").inc()
        if caller is not None:
            state.usage.add(caller.key_id, errors=1)

    @app.exception_handler(TunelabError)
    async def tunelab_error(request: Request, exc: TunelabError) -> JSONResponse:
        count(request, exc.code)
        details = dict(exc.details)
        if exc.hint:
            details.setdefault("hint", exc.hint)
        headers = None
        if isinstance(exc, RateLimitError):
            details["retry_after"] = exc.retry_after
            headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
        problems = getattr(exc, "problems", None)
        if problems:
            details["problems"] = [{"path": p.path, "message": p.message, "line": p.line, "column": p.column}
                                   for p in problems]
        return error_response(exc.http_status, exc.code, exc.message, details, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        count(request, "invalid_request")
        errors = [{"location": [str(x) for x in e.get("loc", ())], "message": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        first = errors[0] if errors else {"location": [], "message": "invalid request"}
        where = ".".join(first["location"][1:]) or "body"
        return error_response(422, "invalid_request", f"{where}: {first['message']}", {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        count(request, code)
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        count(request, "internal_error")
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error; the server log has the details")

