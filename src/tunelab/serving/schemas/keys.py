"""Wire types of API keys: create (the secret shown once), list with usage, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from tunelab.serving.schemas.common import Body, Out


class KeyCreateRequest(Body):
    name: str = Field(min_length=1, max_length=64)
    scopes: list[Literal["predict", "feedback", "admin"]] = Field(min_length=1)
    rate_per_s: float | None = Field(None, ge=0, le=1e6)
    burst: int | None = Field(None, ge=1, le=10**6)


class KeyCreated(Out):
    key: str = Field(description="Shown once: only its hash is stored")
    id: str
    name: str
    scopes: list[str]


class KeyUsage(Out):
    requests: int = 0
    texts: int = 0
    tokens: int = 0
    errors: int = 0
    last_used_at: datetime | None = None


class KeyOut(Out):
    id: str
    name: str
    scopes: list[str]
    rate_per_s: float | None
    burst: int | None
    created_at: datetime
    revoked_at: datetime | None
    usage: KeyUsage = Field(default_factory=KeyUsage)


class KeyList(Out):
    keys: list[KeyOut]
