"""Login with an admin API key (once per session), and logout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tunelab.errors import AuthError, RateLimitError
from tunelab.serving.dashboard.pages import PostedForm, field, new_router
from tunelab.serving.dashboard.session import log_in, log_out
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of

router = new_router()


def safe_next(target: str) -> str:
    """Only same-site paths: never redirect to another host after login."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=safe_next(next))


@router.post("/login")
def login(request: Request, form: PostedForm) -> Response:
    target = safe_next(field(form, "next", "/"))
    if not services_of(request).settings.auth:
        return redirect(request, target)
    try:
        log_in(request, field(form, "api_key"))
    except (AuthError, RateLimitError) as exc:  # the key itself is never echoed or logged
        return render(request, "login.html", exc.http_status, error=exc.message,
                      next=target)
    return redirect(request, target)


@router.post("/logout")
def logout(request: Request, form: PostedForm) -> Response:
    log_out(request)
    return redirect(request, "/login")
