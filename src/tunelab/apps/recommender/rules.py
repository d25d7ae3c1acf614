"""What counts as a positive interaction (`rating>=4`, `event in [click,purchase]`, `all`) and per-event weights."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunelab.errors import UsageError

_COMPARE = re.compile(r"^\s*(\w+)\s*(>=|<=|==|>|<|=)\s*(-?[\d.]+)\s*$")
_EVENTS = re.compile(r"^\s*event\s+in\s*\[([^\]]*)\]\s*$")
_ALIASES = {"rating": "value", "score": "value"}


@dataclass(frozen=True)
class PositiveRule:
    """`value` compared with a threshold, or `event` in a set, or every interaction (`all`)."""

    text: str
    op: str = ""  # ">=", ">", "<=", "<", "=="; empty for event sets and `all`
    threshold: float = 0.0
    events: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> PositiveRule:
        if text.strip().lower() in ("all", "any", ""):
            return cls("all")
        found = _EVENTS.match(text)
        if found:
            events = frozenset(e.strip().strip("'\"").lower() for e in found.group(1).split(",") if e.strip())
            if not events:
                raise UsageError(f"--positive {text!r}: the event list is empty")
            return cls(text, events=events)
        found = _COMPARE.match(text)
        if not found or _ALIASES.get(found.group(1).lower(), found.group(1).lower()) != "value":
            raise UsageError(f"--positive {text!r} is not understood",
                             hint="use e.g. 'rating>=4' (or value>=4), 'event in [click,purchase]' or 'all'")
        op = "==" if found.group(2) == "=" else found.group(2)
        return cls(text, op=op, threshold=float(found.group(3)))

    @property
    def needs_value(self) -> bool:
        return bool(self.op)

    @property
    def needs_event(self) -> bool:
        return bool(self.events)

    def accepts(self, event: str, value: float | None) -> bool:
        if self.events:
            return event.lower() in self.events
        if not self.op:
            return True
        if value is None:
            return False
        return {">=": value >= self.threshold, ">": value > self.threshold, "<=": value <= self.threshold,
                "<": value < self.threshold, "==": value == self.threshold}[self.op]


def parse_event_weights(text: str | None) -> dict[str, float]:
    """`purchase=3,click=1` -> {"purchase": 3.0, "click": 1.0}; events not named weigh 1."""
    weights: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, number = part.partition("=")
        try:
            weights[name.strip().lower()] = float(number)
        except ValueError:
            raise UsageError(f"--event-weights: {part.strip()!r} is not EVENT=NUMBER") from None
        if not sep or weights[name.strip().lower()] <= 0:
            raise UsageError(f"--event-weights: {part.strip()!r} must be EVENT=NUMBER with a positive number")
    return weights
