"""Predictions as plain JSON-ready dicts (CLI output, API responses)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tunelab.types import ClassPrediction, MultiLabelPrediction, NerPrediction, Prediction


def prediction_to_dict(prediction: Prediction, digits: int = 6) -> dict[str, Any]:
    if isinstance(prediction, ClassPrediction):
        return {"label": prediction.label, "score": round(prediction.score, digits),
                "probabilities": {k: round(v, digits) for k, v in prediction.probabilities.items()}}
    if isinstance(prediction, MultiLabelPrediction):
        return {"labels": list(prediction.labels),
                "scores": {k: round(v, digits) for k, v in prediction.scores.items()}}
    if isinstance(prediction, NerPrediction):
        return {"spans": [asdict(s) for s in prediction.spans]}
    raise TypeError(f"unknown prediction type {type(prediction).__name__}")


def dict_to_row(text: str, data: dict[str, Any]) -> dict[str, Any]:
    """A flat row for CSV output from a prediction in dict form (`prediction_to_dict`, or the server's, with `id`)."""
    row: dict[str, Any] = {"text": text}
    if "id" in data:
        row["id"] = data["id"]
    if "label" in data:
        row.update(label=data["label"], score=data["score"])
        row.update({f"p_{k}": v for k, v in data["probabilities"].items()})
    elif "labels" in data:
        row["labels"] = "|".join(data["labels"])
        row.update({f"p_{k}": v for k, v in data["scores"].items()})
    else:
        row["spans"] = "; ".join(f"{s['label']}:{s['start']}-{s['end']}:{s['text']}" for s in data["spans"])
    return row
