"""Every error as JSON `{code, message, details}`: a 4xx status for anything the caller can fix, a bare 500
(details only in the server log) for anything else."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunelab.errors import RateLimitError, TunelabError

log = logging.getLogger("tunelab.serve")


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": details or {}}, status_code=status,
                        headers=headers)


def _count(request: Request, code: str) -> None:
    services = getattr(request.app.state, "services", None)
    if services is None:
        return
    caller = getattr(request.state, "caller", None)
    services.metrics.errors.labels(code, caller.label if caller else "anonymous").inc()
    if caller is not None:
        services.usage.add(caller.key_id, errors=1)


async def tunelab_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TunelabError)
    _count(request, exc.code)
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


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    _count(request, "invalid_request")
    errors = [{"location": [str(x) for x in e.get("loc", ())], "message": e.get("msg", ""),
               "type": e.get("type", "")} for e in exc.errors()]
    first = errors[0] if errors else {"location": [], "message": "invalid request"}
    where = ".".join(first["location"][1:]) or "body"
    return error_response(422, "invalid_request", f"{where}: {first['message']}", {"errors": errors})


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    _count(request, code)
    return error_response(exc.status_code, code, str(exc.detail))


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    _count(request, "internal_error")
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TunelabError, tunelab_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
