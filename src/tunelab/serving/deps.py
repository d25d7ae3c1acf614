"""FastAPI dependencies shared by every route module: the server state and the caller's key (with a scope)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from tunelab.serving.auth import Caller
from tunelab.serving.state import ServerState


def get_state(request: Request) -> ServerState:
    return request.app.state.tunelab


def require(scope: str) -> Any:
    """`caller: Caller = require("predict")`: authenticate the request's key and check it has `scope`."""

    async def dependency(request: Request) -> Caller:
        # async on purpose: a sync dependency would hop to the threadpool on every request; the key
        # lookup is cached, so the database is touched at most once per key per key_cache_s
        def identified(caller: Caller) -> None:
            request.state.caller = caller

        return get_state(request).auth.authenticate(request.headers, scope, identified)

    return Depends(dependency)
