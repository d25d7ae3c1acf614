"""Wire types shared by every resource: the request base (unknown fields refused), errors, health."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """A request body: unknown fields are a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body: fields the server adds later do not break an older SDK."""

    model_config = ConfigDict(extra="ignore")


class ErrorOut(Out):
    code: str
    message: str
    details: dict[str, Any] = {}


class HealthOut(Out):
    status: str


class ReadyOut(Out):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: str
    db: str = Field(description="sqlite or postgresql")
    schema_revision: str | None = Field(None, alias="schema", description="The database's Alembic revision")


class StatusOut(Out):
    """What this server process holds (admin only: it names models and keys' load)."""

    version: str
    models_loaded: list[str]
    queued: int
    workers: int = 1


# error bodies every route may answer with (OpenAPI `responses=`)
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut}
                                           for code in (400, 401, 403, 404, 409, 413, 422, 429)}
