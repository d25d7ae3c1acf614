"""Predict and feedback routes: the hot path, and the corrections that become training data."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from tunelab.registry import parse_ref
from tunelab.serving.deps import FeedbackCaller, PredictCaller, ServicesDep
from tunelab.serving.schemas import ERRORS, FeedbackOut, FeedbackRequest, PredictRequest, PredictResponse
from tunelab.serving.services import scrub_comment

router = APIRouter()


@router.post("/v1/models/{name}/predict", tags=["predict"], response_model=PredictResponse, responses=ERRORS)
async def predict(name: str, body: PredictRequest, request: Request, services: ServicesDep,
                  caller: PredictCaller) -> Response:
    """Predict for a batch of texts. `name` may carry `@version` or `@alias` (e.g. `intents@production`)."""
    ref = parse_ref(name)
    caller_id = body.caller_id or request.headers.get("x-caller-id") or caller.key_id or (
        request.client.host if request.client else "")
    served = await services.predictions.predict(ref, body.inputs, caller, caller_id, ood=body.ood,
                                                explain=body.explain_method if body.explain else None)
    payload = {"model": served.version.model, "version": served.version.version,
               "task": served.version.task, "predictions": served.outputs}
    # the hot path: written directly (the outputs are already plain JSON), documented by `response_model`
    return Response(json.dumps(payload, ensure_ascii=False), media_type="application/json")


@router.post("/v1/feedback", tags=["feedback"], status_code=201, response_model=FeedbackOut, responses=ERRORS)
def feedback(body: FeedbackRequest, services: ServicesDep, caller: FeedbackCaller) -> FeedbackOut:
    """Feedback on a prediction id: the correct label (or labels, or spans), a thumb, a comment."""
    label = body.label
    if isinstance(label, list):
        label = [x if isinstance(x, str) else x.model_dump() for x in label]
    comment = scrub_comment(services, body.prediction_id, body.comment) if body.comment else body.comment
    row = services.store.add_feedback(body.prediction_id, label=label, thumb=body.thumb, comment=comment,
                                      key_id=caller.key_id)
    services.metrics.feedback.labels(row["model"], str(row["version"])).inc()
    return FeedbackOut.model_validate(row)
