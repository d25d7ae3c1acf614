"""Models: versions, aliases and A/B weights; promote and roll back an alias after a confirmation step."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tunelab.errors import UsageError
from tunelab.loop.records import list_decisions
from tunelab.loop.stages import current_stage
from tunelab.loop.staging import stage_progress
from tunelab.registry import check_name
from tunelab.serving.dashboard.pages import Admin, PostedForm, field, new_router
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of

router = new_router()


@router.get("/models")
def models_page(request: Request, _admin: Admin, registered: str = "") -> Response:
    store = services_of(request).store
    models = store.list_models()
    history = {m.name: store.alias_history(m.name)[-10:][::-1] for m in models}
    decisions = {m.name: list_decisions(store, m.name, limit=10) for m in models}
    stages = {m.name: stage_progress(store, stage) for m in models
              if (stage := current_stage(store, m.name)) is not None}
    return render(request, "models.html", active="models", models=models, history=history,
                  decisions=decisions, stages=stages, registered=registered[:200])


def _version(form: object) -> int:
    text = field(form, "version").strip()
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise UsageError("choose a version number")
    return int(text)


@router.post("/models/{name}/promote")
def promote(request: Request, name: str, admin: Admin, form: PostedForm) -> Response:
    """First post: a confirmation page saying what will change. Confirmed: move the alias (as PUT
    /v1/models/{name}/aliases/{alias})."""
    state = services_of(request)
    info = state.store.get_model(check_name(name))
    alias = check_name(field(form, "alias", "production").strip() or "production", "alias")
    version = _version(form)
    if field(form, "confirm") != "yes":
        current = info.aliases.get(alias)
        return render(request, "confirm.html", active="models", title=f"Promote {name} version {version}?",
                      message=f"{name}@{alias} now answers with version {current}; after this, with version "
                              f"{version}." if current else f"{name}@{alias} will answer with version {version}.",
                      action=f"/models/{name}/promote", fields={"alias": alias, "version": str(version)},
                      button=f"Promote to {alias}", back="/models")
    state.admin.set_alias(name, alias, version, actor=admin.key_name)
    return redirect(request, f"/models#model-{name}")


@router.post("/models/{name}/rollback")
def rollback(request: Request, name: str, admin: Admin, form: PostedForm) -> Response:
    state = services_of(request)
    info = state.store.get_model(check_name(name))
    alias = check_name(field(form, "alias", "production").strip() or "production", "alias")
    if field(form, "confirm") != "yes":
        events = state.store.alias_history(name, alias)
        before = events[-1]["previous_version"] if events else None
        return render(request, "confirm.html", active="models", title=f"Roll back {name}@{alias}?",
                      message=f"{name}@{alias} now answers with version {info.aliases.get(alias)}; after this, "
                              f"with the version it pointed at before ({before or 'none recorded'}).",
                      action=f"/models/{name}/rollback", fields={"alias": alias}, button="Roll back",
                      back="/models")
    state.admin.rollback(name, alias, actor=admin.key_name)
    return redirect(request, f"/models#model-{name}")


@router.post("/models/{name}/split")
def set_split(request: Request, name: str, _admin: Admin, form: PostedForm) -> Response:
    """A/B weights per version (as PUT /v1/models/{name}/split); all empty or zero removes the split."""
    state = services_of(request)
    info = state.store.get_model(check_name(name))
    weights: dict[int, float] = {}
    for v in info.versions:
        text = field(form, f"w{v.version}").strip()
        if not text:
            continue
        try:
            weight = float(text)
        except ValueError:
            raise UsageError(f"weight of version {v.version}: {text!r} is not a number") from None
        if weight != 0:  # negative or non-finite weights go to the store, which refuses them
            weights[v.version] = weight
    state.admin.set_split(name, weights)
    return redirect(request, f"/models#model-{name}")
