"""Optional dependencies behind pip extras (`tunelab[onnx]`, `tunelab[postgres]`): import one or name the extra."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from tunelab.errors import MissingExtraError

# module -> the extra that installs it
EXTRAS = {"onnxruntime": "onnx", "onnx": "onnx", "psycopg": "postgres",
          "implicit": "recommender", "faiss": "recommender", "pyarrow": "recommender", "opacus": "privacy",
          "ray": "ray"}


def require(module: str, feature: str) -> ModuleType:
    """`import module`, or a MissingExtraError saying which `pip install 'tunelab[...]'` brings it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0]:
            raise  # the package is there but something it needs is not: show the real error
        raise _missing(module, feature) from None


def check(module: str, feature: str) -> None:
    """Raise MissingExtraError when `module` is not installed, without importing it."""
    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise _missing(module, feature)


def available(module: str) -> bool:
    return importlib.util.find_spec(module.split(".")[0]) is not None


def _missing(module: str, feature: str) -> MissingExtraError:
    top = module.split(".")[0]
    extra = EXTRAS[top]
    return MissingExtraError(f"{feature} needs the Python package {top!r}, which is not installed", extra=extra)
