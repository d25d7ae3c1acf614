"""Health routes: liveness and readiness (public), the process's status and Prometheus metrics (admin)."""

from __future__ import annotations

from importlib.metadata import version as package_version

from fastapi import APIRouter, Request, Response

from tunelab.serving.deps import AdminCaller, ServicesDep
from tunelab.serving.http_errors import error_response
from tunelab.serving.schemas import ERRORS, ErrorOut, HealthOut, ReadyOut, StatusOut

router = APIRouter(tags=["health"])


@router.get("/v1/health", response_model=HealthOut)
async def health() -> HealthOut:
    """Liveness: the process answers."""
    return HealthOut(status="ok")


@router.get("/v1/ready", response_model=ReadyOut, responses={503: {"model": ErrorOut}})
def ready(services: ServicesDep) -> ReadyOut | Response:
    """Readiness: the database answers and its schema is current. Public: it names nothing loaded."""
    from tunelab.registry.db import current_revision

    try:
        revision = current_revision(services.store.engine)
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        return error_response(503, "not_ready", f"database unavailable: {type(exc).__name__}")
    return ReadyOut(status="ready", db=services.store.dialect, schema=revision)


@router.get("/v1/status", response_model=StatusOut, responses=ERRORS)
def status(services: ServicesDep, _caller: AdminCaller) -> StatusOut:
    """What this process holds: the models in memory (name@version and backend) and the batcher's queue."""
    return StatusOut(version=package_version("tunelab"), models_loaded=services.models.describe(),
                     queued=services.predictions.batcher.queued())


@router.get("/metrics", response_class=Response, responses=ERRORS)
async def metrics(services: ServicesDep, request: Request) -> Response:
    """Prometheus metrics (they name API keys: an admin key is needed unless `metrics_public` is set)."""
    if not services.settings.metrics_public:
        services.auth.authenticate(request.headers, "admin")
    services.metrics.queued.set(services.predictions.batcher.queued())
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")
