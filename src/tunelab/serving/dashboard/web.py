"""Rendering for dashboard pages: the page registry (nav), Jinja2 templates, and errors shown as HTML pages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from tunelab.errors import TunelabError
from tunelab.serving.dashboard.session import LoginRequired, current_session, finish
from tunelab.serving.deps import services_of

log = logging.getLogger("tunelab.dashboard")
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# scripts and styles only from this server (no inline script, no CDN); plots are same-origin images
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True)
class Page:
    """One entry of the navigation: `module` (under tunelab.serving.dashboard.pages) has `router`."""

    key: str
    title: str
    path: str
    module: str | None  # None: planned, not built yet (left out of the nav)


# The page registry, in nav order. A planned page has `module=None` until pages/<module>.py (with `router`) exists.
PAGES: tuple[Page, ...] = (
    Page("runs", "Runs", "/", "runs"),
    Page("new", "New run", "/new", "newrun"),
    Page("models", "Models", "/models", "models"),
    Page("playground", "Playground", "/playground", "playground"),
    Page("feedback", "Feedback", "/feedback", "feedback"),
    Page("drift", "Drift", "/drift", "drift"),
    Page("assistant", "Assistant", "/assistant", "assistant"),
    Page("monitor", "Monitor", "/monitor", "monitor"),
    Page("recommender", "Recommender", "/recommender", "recommender"),
    Page("admin", "Admin", "/admin", "admin"),
)


def nav_pages() -> list[Page]:
    return [p for p in PAGES if p.module is not None]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A page from `templates/` with the nav, the CSRF token and the login state filled in."""
    state = services_of(request)
    session = current_session(request)
    context.setdefault("active", "")
    response = templates.TemplateResponse(request, template, {
        "pages": nav_pages(), "csrf": session.csrf, "auth": state.settings.auth,
        "logged_in": bool(session.key_id) or not state.settings.auth, **context}, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = CSP
    return finish(request, response)


def redirect(request: Request, url: str) -> Response:
    """303 See Other after a form post (the browser then GETs `url`)."""
    return finish(request, RedirectResponse(url, status_code=303))


def error_page(request: Request, exc: TunelabError) -> Response:
    if isinstance(exc, LoginRequired):
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect(request, f"/login?next={quote(target, safe='')}")
        return render(request, "login.html", 401, error=exc.message, next="/")
    problems = getattr(exc, "problems", None) or []
    return render(request, "error.html", exc.http_status, error=exc, problems=problems)


class PageRoute(APIRoute):
    """A dashboard route: TuneLab errors become an HTML page with the message and hint (not JSON)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except TunelabError as exc:
                return error_page(request, exc)

        return handle
