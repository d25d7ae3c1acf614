"""API keys: `tl_<id>_<secret>`, 192 random bits; only the secret's SHA-256 is stored, compared in constant time.

A fast hash is right here (unlike passwords): the secret is random and long, so it cannot be guessed
from its hash, and checking it must cost microseconds on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from tunelab.errors import AuthError, UsageError

SCOPES = ("predict", "feedback", "admin")  # admin implies the others


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        return f"tl_{self.key_id}_{self.secret}"


def generate() -> NewKey:
    return NewKey(secrets.token_hex(6), secrets.token_urlsafe(24))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_token(token: str) -> tuple[str, str]:
    """(key id, secret) of a presented key; AuthError if it is not shaped like one (without echoing it)."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "tl" or not parts[1] or not parts[2]:
        raise AuthError("malformed API key",
                        hint="send `Authorization: Bearer tl_...` as printed by `tunelab keys create`")
    return parts[1], parts[2]


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def parse_scopes(scopes: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    items = [s.strip() for s in items if s.strip()]
    bad = [s for s in items if s not in SCOPES]
    if bad or not items:
        raise UsageError(f"unknown scopes {bad}" if bad else "a key needs at least one scope",
                         hint=f"choose from {', '.join(SCOPES)}")
    return tuple(dict.fromkeys(items))


def has_scope(scopes: tuple[str, ...], needed: str) -> bool:
    return needed in scopes or "admin" in scopes
