"""Metric entry points used by the tasks: classification, calibration, multi-label and NER."""

from __future__ import annotations

from tunelab.evaluation.calibration import expected_calibration_error, reliability_bins
from tunelab.evaluation.classification import ClassificationReport, classification_report, confusion_counts
from tunelab.evaluation.multilabel import MultiLabelReport, binarize, multilabel_report, tune_thresholds
from tunelab.evaluation.ner import Entity, NerReport, entities_from_tags, ner_report
from tunelab.evaluation.scoring import ClassScores, Scores, ScoreTable, score_table

__all__ = [
    "ClassScores", "ClassificationReport", "Entity", "MultiLabelReport", "NerReport", "ScoreTable", "Scores",
    "binarize", "classification_report", "confusion_counts", "entities_from_tags", "expected_calibration_error",
    "multilabel_report", "ner_report", "reliability_bins", "score_table", "tune_thresholds",
]
