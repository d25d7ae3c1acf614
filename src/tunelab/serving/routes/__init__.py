"""Route modules for the applications and the dashboard; each has `install(app, state)`.

`create_app` calls every installer in `INSTALLERS` after the core `/v1` routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def installers() -> list[Any]:
    from tunelab.serving.dashboard import install as dashboard
    from tunelab.serving.routes import assistant, monitor

    return [assistant.install, monitor.install, dashboard]


def install_all(app: FastAPI, state: Any) -> None:
    for install in installers():
        install(app, state)
