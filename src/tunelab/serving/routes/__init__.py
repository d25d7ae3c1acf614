"""The /v1 API, one module per resource, each a module-level `APIRouter` reaching services through `deps`."""

from __future__ import annotations

from fastapi import APIRouter

from tunelab.serving.routes import (
    assistant,
    explain,
    health,
    keys,
    logs,
    models,
    monitor,
    predict,
    privacy,
    recommender,
)

ROUTERS: tuple[APIRouter, ...] = (health.router, predict.router, models.router, logs.router, keys.router,
                                  assistant.router, monitor.router, recommender.router, explain.router,
                                  privacy.router)
