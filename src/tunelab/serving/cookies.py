"""The dashboard's session cookie: what it holds, its signing secret (in TUNELAB_HOME, mode 0600), the codec."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "tunelab_dashboard"
MAX_AGE_S = 12 * 3600
SECRET_FILE = "dashboard-secret"


@dataclass(frozen=True)
class Session:
    """What the cookie holds: a random session id, the CSRF token, and the logged-in key's id (if any)."""

    sid: str
    csrf: str
    key_id: str | None = None


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
