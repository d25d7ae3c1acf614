"""Write an evaluation to a folder: metrics.json, report.md and the PNG plots people look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.artifacts.files import write_json_atomic, write_text_atomic
from tunelab.tasks.base import Evaluation
from tunelab.types import LabelSet


def write_plots(folder: Path, prefix: str, evaluation: Evaluation, labels: LabelSet) -> list[str]:
    """Confusion matrix and calibration (when the task's evaluation has them), per-class F1; returns file names."""
    from tunelab.evaluation import plots

    names = []
    if "confusion" in evaluation.extra and "reliability" in evaluation.extra:
        name = f"{prefix}confusion_matrix.png"
        plots.plot_confusion_matrix(evaluation.extra["confusion"], list(labels.names), folder / name)
        names.append(name)
        name = f"{prefix}calibration.png"
        plots.plot_calibration(evaluation.extra["reliability"], evaluation.extra["ece"], folder / name)
        names.append(name)
    per_class = {k: v["f1"] for k, v in evaluation.report.get("per_class", {}).items()}
    if per_class:
        name = f"{prefix}per_class_f1.png"
        plots.plot_per_class_f1(per_class, folder / name)
        names.append(name)
    return names


def write_evaluation(folder: Path, title: str, evaluations: dict[str, Evaluation], labels: LabelSet,
                     history: list[dict[str, Any]] | None = None,
                     extra_metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """metrics.json (all splits), report.md and plots; returns the metrics written."""
    from tunelab.evaluation import plots
    from tunelab.evaluation.report import render_report_md

    folder.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = dict(extra_metrics or {})
    sections = []
    for split, evaluation in evaluations.items():
        prefix = "" if split == "test" or len(evaluations) == 1 else f"{split}_"
        files = write_plots(folder, prefix, evaluation, labels)
        metrics[split] = evaluation.report
        headline = {"split": split, evaluation.metric_name: round(evaluation.metric, 6),
                    "examples": len(evaluation.predictions)}
        sections.append(render_report_md(f"{title} — {split}", headline, evaluation.report, {"plots": files}))
    if history:
        plots.plot_training_curves(history, folder / "training_curves.png")
        sections.append("## Training curves\n\n![training curves](training_curves.png)\n")
    write_json_atomic(folder / "metrics.json", metrics)
    write_text_atomic(folder / "report.md", "\n\n".join(sections))
    return metrics


def format_per_class(report: dict[str, Any], limit: int = 40) -> str:
    per_class = report.get("per_class", {})
    if not per_class:
        return ""
    width = min(40, max(len(k) for k in per_class) + 2)
    lines = [f"{'label':<{width}}precision  recall     f1  support"]
    rows = sorted(per_class.items(), key=lambda kv: kv[1].get("f1", 0))
    for name, s in rows[:limit]:
        lines.append(f"{name[:width - 1]:<{width}}{s['precision']:9.3f}{s['recall']:8.3f}{s['f1']:7.3f}"
                     f"{s['support']:9d}")
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more (weakest shown first)")
    return "\n".join(lines)
