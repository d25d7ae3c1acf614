"""The feedback review queue and corrections export read only registered models' predictions: a thumb on an
assistant's answer (logged in the same prediction log) never reaches them, so the Feedback page cannot 404 on it."""

from __future__ import annotations

from pathlib import Path

from tunelab.registry import PredictionRecord, Store
from tunelab.serving.dashboard import review

CLASS_OUT = {"label": "refund", "score": 0.3, "probabilities": {"refund": 0.3, "shipping": 0.7}}
ANSWER_OUT = {"label": "refund", "score": 0.2, "route": "handoff", "answer": None, "evidence": {}}


def test_queue_and_export_skip_assistant_answers(registry: Store, served_runs: dict[str, Path]) -> None:
    registry.register(served_runs["intents_a"], "intents")
    registry.log_predictions([PredictionRecord("low", "intents", 1, CLASS_OUT, 1.0, "where is it"),
                              PredictionRecord("bad", "intents", 1, CLASS_OUT, 1.0, "my parcel")])
    registry.log_predictions([PredictionRecord("a-support", "support", 3, ANSWER_OUT, 1.0, "pay in gold?"),
                              PredictionRecord("a-intents", "intents", 9, ANSWER_OUT, 1.0, "gold?")],
                             kind="assistant")
    registry.add_feedback("bad", thumb=-1)
    registry.add_feedback("a-support", thumb=-1)  # an assistant that is no registered model
    registry.add_feedback("a-intents", label="refund")  # an assistant named like a model, a version it lacks
    queue = review.review_queue(registry, None, threshold=0.6)
    assert [(item.reason, item.prediction["id"]) for item in queue] == [("flagged", "bad"), ("low confidence", "low")]
    assert [item.prediction["id"] for item in review.review_queue(registry, "intents", threshold=0.6)] == ["bad", "low"]
    export = review.export_corrections(registry, "intents")
    assert export.rows == 0 and export.content == "text,label\n"
