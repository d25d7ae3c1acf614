"""Evaluation: metrics (classification, calibration, multi-label, NER), plots and Markdown reports."""

from __future__ import annotations

from tunelab.evaluation.calibration import expected_calibration_error, reliability_bins
from tunelab.evaluation.classification import ClassificationReport, classification_report
from tunelab.evaluation.multilabel import MultiLabelReport, multilabel_report, tune_thresholds
from tunelab.evaluation.ner import NerReport, entities_from_tags, ner_report
from tunelab.evaluation.report import render_report_md
from tunelab.evaluation.scoring import ClassScores, Scores, ScoreTable

__all__ = [
    "ClassScores", "ClassificationReport", "MultiLabelReport", "NerReport", "ScoreTable", "Scores",
    "classification_report", "entities_from_tags", "expected_calibration_error", "multilabel_report",
    "ner_report", "plots", "reliability_bins", "render_report_md", "tune_thresholds",
]


def __getattr__(name: str) -> object:
    """Load the matplotlib-backed `plots` module only when it is asked for."""
    if name == "plots":
        import importlib

        return importlib.import_module("tunelab.evaluation.plots")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
