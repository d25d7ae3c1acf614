"""The TuneLab server: FastAPI app over the registry, with micro-batching, API keys, A/B splits and metrics.

`create_app(load_settings(...))` builds an app; `tunelab serve` runs it under uvicorn. The names are loaded
lazily so that `tunelab.serving.schemas` (the wire types the SDK imports) never pulls FastAPI in.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServeSettings", "create_app", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from tunelab.serving.app import create_app

        return create_app
    if name in ("ServeSettings", "load_settings"):
        from tunelab.serving import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'tunelab.serving' has no attribute {name!r}")
