"""Feedback review: flagged and low-confidence predictions in a queue, relabelled in place, and the
corrections exported as a training file."""

from __future__ import annotations

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from tunelab.registry import check_name
from tunelab.serving.dashboard import review
from tunelab.serving.dashboard.pages import Admin, PostedForm, field, new_router
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of
from tunelab.serving.models import ModelCache
from tunelab.tasks import get_task

router = new_router()


@router.get("/feedback")
def feedback_page(request: Request, _admin: Admin, model: str = "", threshold: float = Query(0.6, ge=0, le=1),
                  limit: int = Query(50, ge=1, le=500),
                  order: str = Query("teach", pattern="^(teach|confidence)$")) -> Response:
    state = services_of(request)
    store = state.store
    chosen = check_name(model) if model else None
    rank = _teach_ranker(state.models) if order == "teach" else None
    queue = review.review_queue(store, chosen, threshold, limit, rank)
    corrected = len([f for f in store.list_feedback(model=chosen, limit=100_000) if f.get("label") is not None])
    return render(request, "feedback.html", active="feedback", queue=queue, model=model, threshold=threshold,
                  models=[m.name for m in store.list_models()], corrected=corrected, order=order)


def _teach_ranker(models: ModelCache) -> review.Ranker:
    """Order by what a label would teach (`tunelab loop suggest`: uncertainty, spread over embedding clusters)."""
    from tunelab.loop.suggest import rank_logged

    return lambda version, predictions: rank_logged(models.get(version).predictor, predictions)


@router.post("/feedback/relabel")
def relabel(request: Request, admin: Admin, form: PostedForm) -> Response:
    """Store the reviewer's label for a prediction (as POST /v1/feedback); it leaves the queue."""
    state = services_of(request)
    prediction = state.store.get_prediction(field(form, "prediction_id"), kind="model")
    version = state.store.get_version(prediction["model"], prediction["version"])
    labels = get_task(version.task).display_labels(version.labels)
    label = review.parse_label(version.task, field(form, "label"), prediction.get("text"), labels)
    row = state.store.add_feedback(prediction["id"], label=label, key_id=admin.key_id)
    state.metrics.feedback.labels(row["model"], str(row["version"])).inc()
    back = field(form, "back", "/feedback")
    return redirect(request, back if back.startswith("/feedback") else "/feedback")


@router.get("/feedback/export")
def export(request: Request, _admin: Admin, model: str = Query(...)) -> Response:
    result = review.export_corrections(services_of(request).store, check_name(model))
    return Response(result.content, media_type=result.media_type, headers={
        "Content-Disposition": f'attachment; filename="{result.filename}"',
        "X-Tunelab-Rows": str(result.rows), "X-Tunelab-Skipped": str(result.skipped)})
