"""Pure ASGI middleware: refuse oversized, slow (408) or non-UTF-8 bodies with a JSON 4xx before any route runs;
count requests and their latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tunelab.serving.http_errors import error_response
from tunelab.serving.predicting import valid_utf8


class LimitsMiddleware:
    def __init__(self, app: Any, max_body_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-content-type-options", b"nosniff"))
            await send(message)

        await self._guarded(scope, receive, send_wrapper)
        services = getattr(scope["app"].state, "services", None)
        if services is not None:
            path = getattr(scope.get("route"), "path", "unmatched")
            services.metrics.requests.labels(path, scope["method"], str(status["code"])).inc()
            services.metrics.latency.labels(path).observe(time.perf_counter() - started)

    async def _guarded(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        limit = self.limit
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > limit):
            await error_response(413, "payload_too_large", f"request body over {limit} bytes")(scope, receive, send)
        elif scope["method"] in ("POST", "PUT", "PATCH"):
            try:
                body, too_big = await asyncio.wait_for(_read_body(receive, limit), self.timeout_s)
            except TimeoutError:
                await error_response(408, "request_timeout", f"the request body did not arrive within "
                                     f"{self.timeout_s:g} s")(scope, receive, send)
                return
            if too_big:
                await error_response(413, "payload_too_large", f"request body over {limit} bytes")(
                    scope, receive, send)
            elif not valid_utf8(body):
                await error_response(400, "invalid_encoding", "the request body is not valid UTF-8")(
                    scope, receive, send)
            else:
                await self.app(scope, _replay(body), send)
        else:
            await self.app(scope, receive, send)


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

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
