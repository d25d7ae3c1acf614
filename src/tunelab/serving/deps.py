"""FastAPI dependencies shared by every route module and dashboard page: the services and the caller's key.

    async def route(services: ServicesDep, caller: PredictCaller) -> ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from tunelab.serving.auth import Caller
from tunelab.serving.services import Services


def services_of(request: HTTPConnection) -> Services:
    """The process's services (built in the lifespan)."""
    services: Services = request.app.state.services
    return services


def require(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency that authenticates the request's key and checks it has `scope`."""

    async def dependency(request: Request) -> Caller:
        # async on purpose: a sync dependency would hop to the threadpool on every request; the key
        # lookup is cached, so the database is touched at most once per key per key_cache_s
        def identified(caller: Caller) -> None:
            request.state.caller = caller

        return services_of(request).auth.authenticate(request.headers, scope, identified)

    return dependency


ServicesDep = Annotated[Services, Depends(services_of)]
PredictCaller = Annotated[Caller, Depends(require("predict"))]
FeedbackCaller = Annotated[Caller, Depends(require("feedback"))]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
