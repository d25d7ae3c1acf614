"""The composition root: `create_app(settings)` builds the services in the lifespan and mounts every router.

Routes live in `routes/` (the /v1 API, one module per resource) and `dashboard/pages/`; they reach the
services through `deps`. The whole assembly is this file; `services.py` draws what the services are.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version as package_version

from fastapi import FastAPI

from tunelab.serving import services as svc
from tunelab.serving.dashboard.router import build_router, static_files
from tunelab.serving.guard import HostOriginGuard
from tunelab.serving.http_errors import install_error_handlers
from tunelab.serving.middleware import LimitsMiddleware
from tunelab.serving.routes import ROUTERS
from tunelab.serving.settings import ServeSettings

log = logging.getLogger("tunelab.serve")


def create_app(settings: ServeSettings, services: svc.Services | None = None) -> FastAPI:
    """The app; `services` are built in the lifespan unless given (tests hand in their own store)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.auth:
            log.warning("authentication is OFF (--no-auth): anyone who can reach %s:%s is an admin",
                        settings.host, settings.port)
        app.state.services = services or svc.build_services(settings)
        await svc.start(app.state.services)
        yield
        await svc.stop(app.state.services)

    docs = {} if settings.api_docs else {"docs_url": None, "redoc_url": None}  # they load scripts from a CDN
    app = FastAPI(title="TuneLab", version=package_version("tunelab"), lifespan=lifespan, **docs,
                  description="Fine-tuned text models as a service: predict, feedback, versions, A/B, keys.")
    app.state.services = services
    install_error_handlers(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "PUT", "DELETE"], allow_headers=["*"])
    app.add_middleware(LimitsMiddleware, max_body_bytes=settings.max_body_bytes, timeout_s=settings.request_timeout_s)
    app.add_middleware(HostOriginGuard, settings=settings)  # outermost: checked before anything else
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(build_router())
    app.mount("/static", static_files(), name="dashboard-static")
    return app
