"""Wire types of explanations: token attributions for a prediction (`/explain`, and predict with `explain`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunelab.serving.schemas.common import Body, Out

ExplainMethod = Literal["ig", "grad"]


class ExplainRequest(Body):
    text: str = Field(min_length=1, description="The text to explain")
    label: str | None = Field(None, max_length=128, description="Explain this label instead of the predicted "
                                                                "one(s); NER: the predicted entities of this type")
    method: ExplainMethod = Field("ig", description="ig: integrated gradients; grad: gradient x input (faster)")
    steps: int = Field(32, ge=2, le=256, description="Integration steps (ig)")
    caller_id: str | None = Field(None, max_length=128, description="As for predict: picks the A/B arm")


class TokenScoreOut(Out):
    text: str
    start: int = Field(description="Character offset in the text")
    end: int
    score: float = Field(description="Positive: pushed toward the label; negative: against it")


class ExplainedSpanOut(Out):
    start: int
    end: int
    label: str
    text: str = ""
    score: float | None = None


class ExplanationOut(Out):
    label: str
    probability: float
    method: ExplainMethod
    target: str = Field(description="What the scores add up to: log_probability or log_odds")
    tokens: list[TokenScoreOut] = Field(description="Word pieces the model read (special tokens left out)")
    words: list[TokenScoreOut] = Field(description="Word pieces merged into words")
    span: ExplainedSpanOut | None = Field(None, description="NER: the entity explained")
    delta: float | None = Field(None, description="IG completeness gap (near 0: converged)")


class ExplainResponse(Out):
    model: str
    version: int
    task: str
    text: str
    explanations: list[ExplanationOut]
