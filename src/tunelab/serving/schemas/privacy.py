"""Per-target privacy policies: the body that sets one and what the server answers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tunelab.privacy.findings import PII_TYPES
from tunelab.serving.schemas.common import Body, Out

PolicyKind = Literal["model", "assistant", "monitor"]


class PolicyRequest(Body):
    types: list[str] = Field(description="personal data types to redact (email, phone, card, ..., or all); "
                                         "empty: this target's texts are stored as sent", max_length=32)
    mode: Literal["mask", "hash", "drop"] = "mask"

    @field_validator("types")
    @classmethod
    def known_types(cls, value: list[str]) -> list[str]:
        names = [n.strip() for n in value if n.strip()]
        if "all" in names:
            return ["all"]  # every type the server's detectors can find (names only with its NER model)
        unknown = [n for n in names if n not in PII_TYPES]
        if unknown:  # a 422 whose message starts with `types`
            raise ValueError(f"unknown personal data type(s) {', '.join(map(repr, unknown))}; "
                             f"use some of: {', '.join(PII_TYPES)} (or all)")
        return list(dict.fromkeys(names))


class PolicyOut(Out):
    kind: PolicyKind
    name: str
    types: list[str]
    mode: str
    updated_at: str


class PolicyList(Out):
    policies: list[PolicyOut]
