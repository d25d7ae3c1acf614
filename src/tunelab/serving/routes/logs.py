"""Prediction log routes (admin): logged predictions (the review queue) and the feedback given on them."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from tunelab.registry import check_name
from tunelab.registry.store import MAX_VERSION
from tunelab.serving.deps import AdminCaller, ServicesDep
from tunelab.serving.schemas import ERRORS, FeedbackList, LoggedPredictionDetail, PredictionList

Kind = Literal["model", "assistant", "all"]
router = APIRouter(tags=["logs"], responses=ERRORS)


@router.get("/v1/predictions", response_model=PredictionList)
def list_predictions(services: ServicesDep, _caller: AdminCaller, model: str | None = None,
                     version: int | None = Query(None, ge=1, le=MAX_VERSION),
                     max_score: float | None = Query(None, ge=0, le=1), without_feedback: bool = False,
                     limit: int = Query(100, ge=1, le=10_000), kind: Kind = "model") -> PredictionList:
    """Logged predictions, newest first; `max_score` keeps the low-confidence ones (review queue); `kind`:
    model predictions (default), an application's answers (`assistant`), or `all`."""
    rows = services.store.list_predictions(model=check_name(model) if model else None, version=version,
                                           max_score=max_score, without_feedback=without_feedback, limit=limit,
                                           kind=None if kind == "all" else kind)
    return PredictionList.model_validate({"predictions": rows})


@router.get("/v1/predictions/{prediction_id}", response_model=LoggedPredictionDetail)
def show_prediction(prediction_id: str, services: ServicesDep, _caller: AdminCaller) -> LoggedPredictionDetail:
    row = services.store.get_prediction(prediction_id)
    return LoggedPredictionDetail.model_validate(
        {**row, "feedback": services.store.list_feedback(prediction_id=prediction_id)})


@router.get("/v1/feedback", tags=["feedback"], response_model=FeedbackList)
def list_feedback(services: ServicesDep, _caller: AdminCaller, model: str | None = None,
                  version: int | None = Query(None, ge=1, le=MAX_VERSION),
                  limit: int = Query(1000, ge=1, le=100_000), kind: Kind = "model") -> FeedbackList:
    rows = services.store.list_feedback(model=check_name(model) if model else None, version=version, limit=limit,
                                        kind=None if kind == "all" else kind)
    return FeedbackList.model_validate({"feedback": rows})
