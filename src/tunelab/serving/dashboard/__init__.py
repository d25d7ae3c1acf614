"""The web dashboard served at `/` by `tunelab serve`: server-rendered pages (Jinja2) with small scripts.

Pages (one module each under `pages/`, listed in `web.PAGES`): runs and run detail, new run, models,
playground, feedback review, assistant (chat tester, hand-off queue), monitor (charts, alerts), admin; plus
login. Pages call the same `Store`, `ServerState`, `Desk` and `MonitorHub` methods as the `/v1` API. Static
files (CSS, scripts, the vendored Chart.js) are under `static/`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tunelab.home import home
from tunelab.serving.dashboard.jobs import TrainingJobs
from tunelab.serving.dashboard.session import SessionCodec, load_secret
from tunelab.serving.dashboard.web import HERE, PAGES


@dataclass
class Dashboard:
    """What the dashboard keeps in `state.extensions["dashboard"]`."""

    home: Path  # tunelab.home.home(): the signing secret and the uploads live here
    jobs: TrainingJobs = field(default_factory=TrainingJobs)

    @cached_property
    def codec(self) -> SessionCodec:
        """Made on the first dashboard request: a server that nobody browses writes no secret file."""
        return SessionCodec(load_secret(self.home))

    @property
    def uploads(self) -> Path:
        return self.home / "uploads"  # one folder per upload


def install(app: FastAPI, state: Any) -> None:
    """Add the dashboard pages to the app."""
    state.extensions["dashboard"] = Dashboard(home())
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="dashboard-static")
    modules = ["login"] + [p.module for p in PAGES if p.module is not None]
    for name in modules:
        module = importlib.import_module(f"tunelab.serving.dashboard.pages.{name}")
        app.include_router(module.router, include_in_schema=False)
