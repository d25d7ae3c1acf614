"""Admin: API keys (create, revoke after a confirmation, usage per key) and the audit log of admin actions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tunelab.errors import UsageError
from tunelab.registry import audit
from tunelab.serving.dashboard.pages import Admin, PostedForm, field, new_router
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of

router = new_router()
SCOPES = ("predict", "feedback", "admin")
AUDIT_SHOWN = 100


def _keys_page(request: Request, status_code: int = 200, **context: object) -> Response:
    state = services_of(request)
    state.usage.flush()  # counters still in memory go to the store first
    return render(request, "admin.html", status_code, active="admin", keys=state.store.list_keys(), scopes=SCOPES,
                  audit=audit.entries(state.store.engine, limit=AUDIT_SHOWN), **context)


@router.get("/admin")
def admin_page(request: Request, _admin: Admin) -> Response:
    return _keys_page(request)


@router.post("/admin/keys")
def create_key(request: Request, admin: Admin, form: PostedForm) -> Response:
    """Create a key (as POST /v1/keys); the page shows it once, only its hash is stored."""
    scopes = [s for s in form.getlist("scopes") if s in SCOPES]
    if not scopes:
        raise UsageError("tick at least one scope")
    rate_text = field(form, "rate_per_s").strip()
    try:
        rate = float(rate_text) if rate_text else None
    except ValueError:
        raise UsageError(f"rate limit {rate_text!r} is not a number") from None
    if rate is not None and not 0 <= rate <= 1e6:
        raise UsageError("the rate limit must be between 0 and 1,000,000 requests per second")
    info, token = services_of(request).store.create_key(field(form, "name").strip(), scopes, rate_per_s=rate,
                                                         actor=f"dashboard:{admin.key_name}")
    return _keys_page(request, 201, created=info, token=token)


@router.post("/admin/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str, admin: Admin, form: PostedForm) -> Response:
    state = services_of(request)
    info = state.store.get_key(key_id)
    if field(form, "confirm") != "yes":
        return render(request, "confirm.html", active="admin", title=f"Revoke the key {info.name!r}?",
                      message="Requests with this key are refused within a few seconds. This cannot be undone.",
                      action=f"/admin/keys/{info.id}/revoke", fields={}, button="Revoke", back="/admin")
    state.store.revoke_key(info.id, actor=f"dashboard:{admin.key_name}")
    state.auth.forget(info.id)
    return redirect(request, "/admin")
