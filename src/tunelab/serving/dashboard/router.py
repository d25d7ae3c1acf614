"""The dashboard's pages as one router (login first, then `web.PAGES` in nav order) and its static files."""

from __future__ import annotations

import importlib

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from tunelab.serving.dashboard.web import HERE, PAGES


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for name in ["login"] + [p.module for p in PAGES if p.module is not None]:
        module = importlib.import_module(f"tunelab.serving.dashboard.pages.{name}")
        router.include_router(module.router)
    return router


def static_files() -> StaticFiles:
    return StaticFiles(directory=str(HERE / "static"))
