"""Dashboard page routes, one module per page; each has `router`. Shared dependencies are here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from tunelab.serving.auth import Caller
from tunelab.serving.dashboard.session import check_csrf, page_caller
from tunelab.serving.dashboard.web import PageRoute

Admin = Annotated[Caller, Depends(page_caller)]  # the logged-in admin (or the local one without auth)
PostedForm = Annotated[Any, Depends(check_csrf)]  # the form, its CSRF token checked


def new_router() -> APIRouter:
    return APIRouter(route_class=PageRoute)


def field(form: Any, name: str, default: str = "") -> str:
    """A text field of a posted form (files and missing fields read as `default`)."""
    value = form.get(name, default)
    return value if isinstance(value, str) else default
