"""run_evaluate and run_predict: a finished run applied to a labelled file, or to texts."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunelab.config import DataConfig, load_config
from tunelab.data import read_examples
from tunelab.inference import Predictor
from tunelab.recipes.outputs import write_evaluation
from tunelab.tasks import Evaluation
from tunelab.types import Prediction


def data_config_for(run_dir: Path, **overrides: Any) -> DataConfig:
    """The run's own reading options (columns, format), with any given overrides."""
    config = load_config(run_dir / "config.yaml").data if (run_dir / "config.yaml").is_file() else DataConfig()
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def run_evaluate(run: str | Path, data: str | Path, *, output: str | Path | None = None,
                 text_column: str | None = None, label_column: str | None = None,
                 format: str | None = None) -> tuple[Evaluation, Path]:
    """Evaluate a run on any labelled file; writes metrics.json, report.md and plots to `output`."""
    run_dir = Path(run)
    predictor = Predictor.load(run_dir)
    config = data_config_for(run_dir, text_column=text_column, label_column=label_column, format=format,
                             task=predictor.manifest.task)
    examples = read_examples(Path(data), config, labeled=True)
    evaluation = predictor.evaluate(examples)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(data).stem)[:60] or "data"
    folder = Path(output) if output else run_dir / "evaluations" / slug
    write_evaluation(folder, f"{run_dir.name} on {Path(data).name}", {"test": evaluation},
                     predictor.label_set)
    return evaluation, folder


def run_predict(run: str | Path, texts: list[str]) -> list[Prediction]:
    return Predictor.load(Path(run)).predict(texts)
