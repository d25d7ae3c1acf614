"""Load a finished run and predict with it."""

from tunelab.inference.predictor import Predictor

__all__ = ["Predictor"]
