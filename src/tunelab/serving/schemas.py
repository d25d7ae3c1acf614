"""Request and response bodies of the /v1 API (pydantic): they are the OpenAPI schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Body):
    inputs: list[str] = Field(min_length=1, description="Texts to predict (one prediction each)")
    caller_id: str | None = Field(None, max_length=128,
                                  description="Stable id of the end user: A/B splits are sticky per caller")


class SpanOut(BaseModel):
    start: int
    end: int
    label: str
    text: str = ""
    score: float | None = None


class PredictionOut(BaseModel):
    id: str = Field(description="Prediction id: send feedback on it")
    label: str | None = None
    score: float | None = None
    probabilities: dict[str, float] | None = None
    labels: list[str] | None = None
    scores: dict[str, float] | None = None
    spans: list[SpanOut] | None = None


class PredictResponse(BaseModel):
    model: str
    version: int
    task: str
    predictions: list[PredictionOut]


class SpanIn(_Body):
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    label: str = Field(min_length=1, max_length=64)


class FeedbackRequest(_Body):
    prediction_id: str = Field(min_length=1, max_length=64)
    label: str | list[str] | list[SpanIn] | None = Field(
        None, description="The correct label (classification), labels (multi-label) or spans (NER)")
    thumb: Literal[1, -1] | None = None
    comment: str | None = Field(None, max_length=4000)


class FeedbackOut(BaseModel):
    id: int
    prediction_id: str
    model: str
    version: int
    correct: bool | None
    created_at: str


class ErrorOut(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class RegisterRequest(_Body):
    run_path: str = Field(min_length=1, max_length=4096, description="A finished run folder on the server")
    alias: str | None = Field(None, max_length=64)
    description: str = Field("", max_length=2000)


class AliasRequest(_Body):
    version: int = Field(ge=1, le=2**31 - 1)


class SplitRequest(_Body):
    weights: dict[str, float] = Field(description='Version number -> weight, e.g. {"3": 0.9, "4": 0.1}; '
                                                  "empty removes the split")


class KeyCreateRequest(_Body):
    name: str = Field(min_length=1, max_length=64)
    scopes: list[Literal["predict", "feedback", "admin"]] = Field(min_length=1)
    rate_per_s: float | None = Field(None, ge=0, le=1e6)
    burst: int | None = Field(None, ge=1, le=10**6)


class KeyCreated(BaseModel):
    key: str = Field(description="Shown once: only its hash is stored")
    id: str
    name: str
    scopes: list[str]
