"""TuneLab: fine-tune a pretrained transformer on your labelled text, evaluate it, predict with it.

Python API (the same verbs as the CLI):

    import tunelab
    summary = tunelab.train(data="train.csv", output="runs/intents")
    model = tunelab.load("runs/intents")
    model.predict(["where is my parcel?"])
    evaluation = tunelab.evaluate("runs/intents", "test.csv")
"""

from __future__ import annotations

import os

# OpenMP threads that spin-wait for long collapse throughput ~20x when another busy process shares
# the cores (measured: 5.9 vs 77 samples/s); a short spin keeps full speed when alone. Must be set
# before torch loads its OpenMP runtime, so before any torch import.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from pathlib import Path  # noqa: E402
from typing import Any

from tunelab.errors import ArtifactError, ConfigError, DataError, ModelNotFoundError, TunelabError, UsageError


def train(data: str | None = None, *, output: str | None = None, config: str | None = None,
          resume: str | None = None, show_progress: bool = True, **options: Any) -> Any:
    """Train a run. `options` are the `tunelab train` flags' names (`tunelab.config.config_options()`: every
    data, model and train field) or dotted config keys with dots as '__':
    `tunelab.train(data="x.csv", output="runs/x", epochs=3, method="lora", train__power=2)`."""
    from tunelab.config import RunConfig, load_config, option_overrides
    from tunelab.recipes.train import run_train

    overrides = option_overrides({"data": data, "output": output, **options})
    run_config = RunConfig() if resume else load_config(config, overrides)
    return run_train(run_config, resume=resume, show_progress=show_progress)


def load(run: str | Path, **kwargs: Any) -> Any:
    """Load a finished run as a Predictor (`predict`, `predict_proba`, `labels`)."""
    from tunelab.inference import Predictor

    return Predictor.load(run, **kwargs)


def evaluate(run: str | Path, data: str | Path, **kwargs: Any) -> Any:
    from tunelab.recipes.evaluate import run_evaluate

    return run_evaluate(run, data, **kwargs)[0]


def predict(run: str | Path, texts: list[str]) -> list[Any]:
    from tunelab.recipes.evaluate import run_predict

    return run_predict(run, texts)


def runs(folder: str | Path = "runs") -> list[dict[str, Any]]:
    """The runs in `folder` with status, task, method and headline metrics (as `tunelab runs`)."""
    from tunelab.recipes.runs import list_runs

    return list_runs(Path(folder))


def installed_version() -> str:
    """The installed distribution's version (pyproject.toml is the one source); "0+unknown" when TuneLab runs
    from a source tree that was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tunelab")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """`tunelab.__version__` reads the package metadata and `tunelab.Client` / `tunelab.AsyncClient` import httpx,
    only when asked for."""
    if name == "__version__":
        return installed_version()
    if name in ("Client", "AsyncClient"):
        from tunelab import client

        return getattr(client, name)
    raise AttributeError(f"module 'tunelab' has no attribute {name!r}")


__all__ = ["ArtifactError", "AsyncClient", "Client", "ConfigError", "DataError", "ModelNotFoundError", "TunelabError",
           "UsageError", "__version__", "evaluate", "installed_version", "load", "predict", "runs", "train"]
