"""Playground: type or paste text, see the prediction with every probability; NER spans highlighted.

Predictions go through the server's own predict path (`ServerState.predict`: routing, batching, logging),
so each one is logged with an id and can be reviewed or flagged like any other."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tunelab.errors import UsageError
from tunelab.registry import parse_ref
from tunelab.serving.dashboard.pages import Admin, PostedForm, field, new_router
from tunelab.serving.dashboard.review import highlight
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of

router = new_router()


def _targets(request: Request) -> list[str]:
    """Every way to ask for a model: name, name@alias, name@version."""
    out = []
    for m in services_of(request).store.list_models():
        out.append(m.name)
        out += [f"{m.name}@{alias}" for alias in sorted(m.aliases)]
        out += [f"{m.name}@{v.version}" for v in reversed(m.versions)]
    return out


@router.get("/playground")
def playground_page(request: Request, _admin: Admin, model: str = "") -> Response:
    return render(request, "playground.html", active="playground", targets=_targets(request), chosen=model[:200],
                  text="", result=None)


@router.post("/playground")
async def try_text(request: Request, admin: Admin, form: PostedForm) -> Response:
    state = services_of(request)
    target, text = field(form, "model").strip(), field(form, "text")
    if not target:
        raise UsageError("choose a model", hint="register a run as a model first (Runs > a run > Register)")
    served = await state.predictions.predict(parse_ref(target), [text], admin, f"dashboard:{admin.label}")
    output = served.outputs[0]
    probabilities = sorted((output.get("probabilities") or output.get("scores") or {}).items(),
                           key=lambda kv: -kv[1])
    pieces = highlight(text, output["spans"]) if "spans" in output else None
    return render(request, "playground.html", active="playground", targets=_targets(request), chosen=target,
                  text=text, result=output, version=served.version, probabilities=probabilities, pieces=pieces)


@router.post("/playground/flag")
def flag(request: Request, admin: Admin, form: PostedForm) -> Response:
    """Thumb down on a prediction (as POST /v1/feedback): it joins the review queue as flagged."""
    state = services_of(request)
    comment = state.redactor.scrub(field(form, "comment").strip()[:4000]) or None
    row = state.store.add_feedback(field(form, "prediction_id"), thumb=-1, comment=comment, key_id=admin.key_id)
    state.metrics.feedback.labels(row["model"], str(row["version"])).inc()
    return redirect(request, "/feedback?flagged=1")
