"""The explain route: token attributions for one text, with the same model resolution and scope as predict."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tunelab.registry import parse_ref
from tunelab.serving.deps import PredictCaller, ServicesDep
from tunelab.serving.schemas import ERRORS, ExplainRequest, ExplainResponse

router = APIRouter()


@router.post("/v1/models/{name}/explain", tags=["predict"], response_model=ExplainResponse, responses=ERRORS)
async def explain(name: str, body: ExplainRequest, request: Request, services: ServicesDep,
                  caller: PredictCaller) -> ExplainResponse:
    """Which tokens pushed the prediction for `text` toward (positive) or against (negative) each predicted label
    (or `label`); `name` may carry `@version` or `@alias`."""
    from tunelab.inference.explain import explanation_to_dict  # torch and Captum load on first use only

    caller_id = body.caller_id or request.headers.get("x-caller-id") or caller.key_id or (
        request.client.host if request.client else "")
    version, explanations = await services.predictions.explain(parse_ref(name), body.text, caller, caller_id,
                                                               label=body.label, method=body.method,
                                                               steps=body.steps)
    return ExplainResponse.model_validate({"model": version.model, "version": version.version,
                                           "task": version.task, "text": body.text,
                                           "explanations": [explanation_to_dict(e) for e in explanations]})
