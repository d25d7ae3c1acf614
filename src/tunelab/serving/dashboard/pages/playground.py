"""Playground: type or paste text, see the prediction with every probability; NER spans highlighted; on request
the words that pushed toward (green) or against (red) each label.

Predictions go through the server's own predict path (`ServerState.predict`: routing, batching, logging),
so each one is logged with an id and can be reviewed or flagged like any other."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tunelab.errors import UsageError
from tunelab.registry import parse_ref
from tunelab.serving.dashboard.pages import Admin, PostedForm, field, new_router
from tunelab.serving.dashboard.review import highlight
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of
from tunelab.serving.services import scrub_comment

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
    target, text, explain = field(form, "model").strip(), field(form, "text"), field(form, "explain") == "1"
    if not target:
        raise UsageError("choose a model", hint="register a run as a model first (Runs > a run > Register)")
    served = await state.predictions.predict(parse_ref(target), [text], admin, f"dashboard:{admin.label}",
                                             explain="ig" if explain else None)
    output = served.outputs[0]
    probabilities = sorted((output.get("probabilities") or output.get("scores") or {}).items(),
                           key=lambda kv: -kv[1])
    pieces = highlight(text, output["spans"]) if "spans" in output else None
    explained = [(e, attribution_pieces(text, e["words"])) for e in output.get("explanations") or []]
    return render(request, "playground.html", active="playground", targets=_targets(request), chosen=target,
                  text=text, result=output, version=served.version, probabilities=probabilities, pieces=pieces,
                  explain=explain, explained=explained)


def attribution_pieces(text: str, words: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    """The text cut into (piece, CSS class or None, title): words get `attr-p1`..`attr-p4` (toward the label) or
    `attr-n1`..`attr-n4` (against), by their score's share of the largest one; the text between words none."""
    peak = max((abs(float(w["score"])) for w in words), default=0.0) or 1.0
    pieces: list[tuple[str, str | None, str]] = []
    cursor = 0
    for word in sorted(words, key=lambda w: int(w["start"])):
        start, end, score = int(word["start"]), int(word["end"]), float(word["score"])
        if start < cursor or end > len(text) or start >= end:
            continue
        if start > cursor:
            pieces.append((text[cursor:start], None, ""))
        level = min(4, int(4 * abs(score) / peak + 0.999))
        css = f"attr-{'p' if score >= 0 else 'n'}{level}" if level else None
        pieces.append((text[start:end], css, f"{score:+.4f}"))
        cursor = end
    if cursor < len(text):
        pieces.append((text[cursor:], None, ""))
    return pieces


@router.post("/playground/flag")
def flag(request: Request, admin: Admin, form: PostedForm) -> Response:
    """Thumb down on a prediction (as POST /v1/feedback): it joins the review queue as flagged."""
    state = services_of(request)
    pid, comment = field(form, "prediction_id"), field(form, "comment").strip()[:4000]
    comment = (scrub_comment(state, pid, comment) if comment else "") or None
    row = state.store.add_feedback(pid, thumb=-1, comment=comment, key_id=admin.key_id)
    state.metrics.feedback.labels(row["model"], str(row["version"])).inc()
    return redirect(request, "/feedback?flagged=1")
