"""Names that become database keys or paths: validated once, here (no path traversal, no surprises)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunelab.errors import UsageError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def check_name(name: object, what: str = "model name") -> str:
    """Lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64, no '..'."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise UsageError(f"invalid {what} {name!r}",
                         hint="use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


@dataclass(frozen=True)
class ModelRef:
    """`name`, `name@3` (a version) or `name@production` (an alias)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.alias}" if self.alias else self.name


def parse_ref(ref: str) -> ModelRef:
    name, sep, tag = ref.partition("@")
    check_name(name)
    if not sep:
        return ModelRef(name)
    if tag.isascii() and tag.isdigit():
        return ModelRef(name, version=int(tag))
    return ModelRef(name, alias=check_name(tag, "alias"))
