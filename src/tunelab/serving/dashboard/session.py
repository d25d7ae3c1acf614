"""Dashboard login and CSRF: a signed, HttpOnly, SameSite=Strict session cookie and a token in every form.

The admin pastes an admin API key once; it is checked by the server's own `Authenticator` (same rules as
`/v1`), and only the key's id goes into the cookie, never the key. Each page load re-checks that the key
still exists, is not revoked and still has the `admin` scope. In local no-auth mode everyone is the local
admin, but forms still carry a CSRF token (another site could otherwise post to a loopback server).
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from tunelab.errors import AuthError, ForbiddenError
from tunelab.serving.auth import LOCAL, Caller

COOKIE = "tunelab_dashboard"
MAX_AGE_S = 12 * 3600
SECRET_FILE = "dashboard-secret"


@dataclass(frozen=True)
class Session:
    """What the cookie holds: a random session id, the CSRF token, and the logged-in key's id (if any)."""

    sid: str
    csrf: str
    key_id: str | None = None


class LoginRequired(AuthError):
    """No valid dashboard session: the page answers with a redirect to /login."""


def load_secret(home: Path) -> str:
    """The per-server signing secret in TUNELAB_HOME (created once, mode 0600; delete it to log everyone out)."""
    path = home / SECRET_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) >= 32:
            return secret
        path.unlink()  # truncated by a crash mid-write: start over
        return load_secret(home)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        secret = secrets.token_hex(32)
        handle.write(secret)
        handle.flush()
        os.fsync(handle.fileno())
    return secret


class SessionCodec:
    """Signs and reads the session cookie."""

    def __init__(self, secret: str) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="tunelab-dashboard-session")

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self.serializer.loads(raw, max_age=MAX_AGE_S)
        except BadSignature:  # also covers expired signatures
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str) or not isinstance(data.get("csrf"), str):
            return None
        key_id = data.get("key")
        return Session(data["sid"], data["csrf"], key_id if isinstance(key_id, str) else None)

    def write(self, response: Response, session: Session, secure: bool) -> None:
        value = self.serializer.dumps({"sid": session.sid, "csrf": session.csrf, "key": session.key_id})
        response.set_cookie(COOKIE, value, max_age=MAX_AGE_S, httponly=True, samesite="strict", secure=secure,
                            path="/")


def new_session(key_id: str | None = None) -> Session:
    return Session(secrets.token_urlsafe(16), secrets.token_urlsafe(24), key_id)


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
    return request.app.state.tunelab.extensions["dashboard"].codec


def page_caller(request: Request) -> Caller:
    """The admin behind this page request, or LoginRequired. Local no-auth mode: the local admin."""
    state = request.app.state.tunelab
    if not state.settings.auth:
        current_session(request)
        return LOCAL
    session = current_session(request)
    info = state.store.key_by_id(session.key_id) if session.key_id else None
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
    state = request.app.state.tunelab
    caller = state.auth.authenticate({"authorization": f"Bearer {api_key.strip()}"}, "admin")
    set_session(request, new_session(caller.key_id))  # a new id and token: no session fixation
    return caller


def log_out(request: Request) -> None:
    set_session(request, new_session())
