"""Dashboard login and CSRF: a signed, HttpOnly, SameSite=Strict session cookie and a token in every form.

The admin pastes an admin API key once; it is checked by the server's own `Authenticator` (same rules as
`/v1`), and only the key's id goes into the cookie, never the key. Each page load re-checks that the key
still exists, is not revoked and still has the `admin` scope. In local no-auth mode everyone is the local
admin, but forms still carry a CSRF token (another site could otherwise post to a loopback server).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tunelab.errors import AuthError, ForbiddenError
from tunelab.serving.auth import LOCAL, Caller
from tunelab.serving.cookies import MAX_AGE_S, Session, SessionCodec, new_session
from tunelab.serving.deps import services_of


class LoginRequired(AuthError):
    """No valid dashboard session: the page answers with a redirect to /login."""


def current_session(request: Request) -> Session:
    """The request's session; a fresh anonymous one (sent back by `finish`) when it has none."""
    cached = getattr(request.state, "dashboard_session", None)
    if cached is not None:
        return cached
    session = codec(request).read(request)
    if session is None:
        session = new_session()
        request.state.dashboard_session_dirty = True
    request.state.dashboard_session = session
    return session


def set_session(request: Request, session: Session) -> None:
    request.state.dashboard_session = session
    request.state.dashboard_session_dirty = True


def finish(request: Request, response: Response) -> Response:
    """Send the session cookie when it was created or changed during this request."""
    if getattr(request.state, "dashboard_session_dirty", False):
        codec(request).write(response, request.state.dashboard_session, request.url.scheme == "https")
    return response


def codec(request: Request) -> SessionCodec:
    return services_of(request).dashboard.codec


def page_caller(request: Request) -> Caller:
    """The admin behind this page request, or LoginRequired. Local no-auth mode: the local admin."""
    state = services_of(request)
    if not state.settings.auth:
        current_session(request)
        return LOCAL
    session = current_session(request)
    live = bool(session.key_id) and state.sessions.key_of(session.sid) == session.key_id  # not logged out
    info = state.store.key_by_id(session.key_id) if live and session.key_id else None
    if info is None or info.revoked_at is not None or "admin" not in info.scopes:
        if session.key_id:
            set_session(request, replace(session, key_id=None))
        raise LoginRequired("please log in with an admin API key")
    return Caller(info.id, info.name, info.scopes)


async def check_csrf(request: Request) -> Any:
    """The posted form, after checking its CSRF token against the session's (403 otherwise)."""
    form = await request.form()
    session = codec(request).read(request)
    token = form.get("csrf")
    if session is None or not isinstance(token, str) or not hmac.compare_digest(token, session.csrf):
        raise ForbiddenError("the form's security token is missing or out of date",
                             hint="reload the page and submit the form again")
    request.state.dashboard_session = session
    return form


def log_in(request: Request, api_key: str) -> Caller:
    """Check an admin key with the server's authenticator; on success start a new session for it."""
    state = services_of(request)
    caller = state.auth.authenticate({"authorization": f"Bearer {api_key.strip()}"}, "admin")
    session = new_session(caller.key_id)  # a new id and token: no session fixation
    if caller.key_id:
        state.sessions.open(session.sid, caller.key_id, MAX_AGE_S)
    set_session(request, session)
    return caller


def log_out(request: Request) -> None:
    """End the session on the server too: a copy of the old cookie no longer logs anyone in."""
    services_of(request).sessions.close(current_session(request).sid)
    set_session(request, new_session())
