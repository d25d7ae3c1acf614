"""Wire types of the model resources: predict, feedback, registry (versions, aliases, A/B), the prediction log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from tunelab.serving.schemas.common import Body, Out
from tunelab.serving.schemas.explain import ExplainMethod, ExplanationOut


class PredictRequest(Body):
    inputs: list[str] = Field(min_length=1, description="Texts to predict (one prediction each)")
    caller_id: str | None = Field(None, max_length=128,
                                  description="Stable id of the end user: A/B splits are sticky per caller")
    ood: bool = Field(False, description="Add an out-of-distribution score to each prediction (classification: "
                                         "Mahalanobis distance of the text's pooled features to the training "
                                         "classes; higher = less like the training data)")
    explain: bool = Field(False, description="Add token attributions to each prediction (at most 16 texts)")
    explain_method: ExplainMethod = Field("ig", description="With explain: ig or grad (faster)")


class SpanOut(Out):
    start: int
    end: int
    label: str
    text: str = ""
    score: float | None = None


class PredictionOut(Out):
    id: str = Field(description="Prediction id: send feedback on it")
    label: str | None = None
    score: float | None = None
    probabilities: dict[str, float] | None = None
    labels: list[str] | None = None
    scores: dict[str, float] | None = None
    spans: list[SpanOut] | None = None
    ood_score: float | None = Field(None, description="Out-of-distribution score, when the request asked for it")
    explanations: list[ExplanationOut] | None = Field(None, description="Token attributions, when asked for")


class PredictResponse(Out):
    model: str
    version: int
    task: str
    predictions: list[PredictionOut]


class SpanIn(Body):
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    label: str = Field(min_length=1, max_length=64)


class FeedbackRequest(Body):
    prediction_id: str = Field(min_length=1, max_length=64)
    label: str | list[str] | list[SpanIn] | None = Field(
        None, description="The correct label (classification), labels (multi-label) or spans (NER)")
    thumb: Literal[1, -1] | None = None
    comment: str | None = Field(None, max_length=4000)


class FeedbackOut(Out):
    id: int
    prediction_id: str
    model: str
    version: int
    label: Any = None
    thumb: int | None = None
    comment: str | None = None
    correct: bool | None
    created_at: datetime


class FeedbackList(Out):
    feedback: list[FeedbackOut]


class VersionOut(Out):
    model: str
    version: int
    run_path: str
    task: str
    labels: list[str]
    metrics: dict[str, Any]
    base_model: str | None = None
    created_at: datetime
    aliases: list[str] = []


class VersionDetail(VersionOut):
    manifest: dict[str, Any] = Field(default_factory=dict, description="The run's manifest.json")


class ModelOut(Out):
    name: str
    description: str = ""
    created_at: datetime
    versions: list[VersionOut]
    aliases: dict[str, int]
    split: dict[int, float] = Field(default_factory=dict, description="A/B weights per version")


class ModelList(Out):
    models: list[ModelOut]


class RegisterRequest(Body):
    run_path: str = Field(min_length=1, max_length=4096, description="A finished run folder on the server")
    alias: str | None = Field(None, max_length=64)
    description: str = Field("", max_length=2000)


class AliasRequest(Body):
    version: int = Field(ge=1, le=2**31 - 1)


class AliasEvent(Out):
    alias: str
    version: int
    previous_version: int | None
    actor: str | None
    at: datetime


class AliasHistory(Out):
    aliases: dict[str, int]
    history: list[AliasEvent]


class SplitRequest(Body):
    weights: dict[str, float] = Field(description='Version number -> weight, e.g. {"3": 0.9, "4": 0.1}; '
                                                  "empty removes the split")


class SplitOut(Out):
    weights: dict[int, float]


class ArmOut(Out):
    version: int
    n: int
    correct: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    weight: float | None


class ABReportOut(Out):
    model: str
    arms: list[ArmOut]
    best_version: int | None
    p_value: float | None
    significant: bool
    alpha: float
    message: str


class LoggedPrediction(Out):
    id: str
    kind: str = Field("model", description="model, or the application that answered (assistant)")
    model: str
    version: int
    key_id: str | None = None
    caller: str | None = None
    text: str | None = None
    text_hash: str
    output: dict[str, Any]
    score: float | None = None
    latency_ms: float
    created_at: datetime


class LoggedPredictionDetail(LoggedPrediction):
    feedback: list[FeedbackOut] = []


class PredictionList(Out):
    predictions: list[LoggedPrediction]
