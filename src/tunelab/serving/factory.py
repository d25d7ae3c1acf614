"""The app factory uvicorn imports in every worker process: `uvicorn tunelab.serving.factory:app --factory`.

`tunelab serve --workers N` resolves the settings once (flags, file, environment), hands them to each worker as
JSON in `TUNELAB_SERVE_SETTINGS`, and uvicorn starts N processes that each call `app()`: each builds its own
services (model cache, micro-batcher, key and route caches) in its lifespan. Started by hand without that
variable, the factory reads the settings from the `TUNELAB_*` environment variables and the defaults.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict

from fastapi import FastAPI

from tunelab.serving.app import create_app
from tunelab.serving.settings import ServeSettings, load_settings

SETTINGS_ENV = "TUNELAB_SERVE_SETTINGS"


def settings_json(settings: ServeSettings) -> str:
    """The resolved settings as the one environment value every worker reads."""
    return json.dumps(asdict(settings))


def worker_threads(threads: int, workers: int, cores: int) -> int:
    """Torch threads per worker: the setting when given, else the cores shared out (at least one each)."""
    return threads if threads > 0 else max(1, cores // max(1, workers))


def app() -> FastAPI:
    """One worker's application, with torch's thread count set for this process."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = load_settings(env={}, **json.loads(raw)) if raw else load_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.threads:
        from tunelab.training.precision import set_threads

        set_threads(settings.threads)
    return create_app(settings)
