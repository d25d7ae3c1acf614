"""The TuneLab server: FastAPI app over the registry, with micro-batching, API keys, A/B splits and metrics.

`create_app(load_settings(...))` builds an app; `tunelab serve` runs it under uvicorn.
"""

from tunelab.serving.app import create_app
from tunelab.serving.settings import ServeSettings, load_settings

__all__ = ["ServeSettings", "create_app", "load_settings"]
