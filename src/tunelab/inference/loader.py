"""The seam through which applications load run folders: the server passes its shared model cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

ModelLoader = Callable[[Path], Any]  # a run folder -> a Predictor (tunelab.inference.Predictor.load by default)
