"""Report cards of compressed artifacts (ONNX, int8, pruned, distilled): typed, stored as the JSON they always were."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

OPTIMIZED = "optimized"  # the manifest's `artifacts` key that holds the cards, by artifact name


@dataclass(frozen=True)
class ArtifactCard:
    """One artifact's card: how good (gate), how big, how fast. The reference (torch fp32) has no gate.

    Kind-specific facts (quantisation mode, graph fusions, kept layers, the teacher...) stay in `details`,
    so a card written by any TuneLab version reads back and writes out unchanged."""

    name: str
    backend: str = ""
    metric_name: str = ""
    metric: float | None = None
    gate: dict[str, Any] | None = None  # GateResult.to_dict(); None for the reference
    passed: bool = False
    forced: bool = False  # kept despite failing the gate (--force): never chosen automatically
    size_mb: float | None = None
    latency_b1_p50_ms: float | None = None
    latency_b1_p95_ms: float | None = None
    throughput_b32_per_s: float | None = None
    run_path: str | None = None  # pruned and distilled models are run folders of their own
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_reference(self) -> bool:
        return self.gate is None

    @property
    def usable(self) -> bool:
        """Passed the accuracy gate on its own merit."""
        return self.passed and not self.forced

    @property
    def drop_points(self) -> float | None:
        """How many metric points it lost against the reference (from the gate)."""
        value = (self.gate or {}).get("drop_points")
        return None if value is None else float(value)

    @property
    def verdict(self) -> str:
        return "reference" if self.is_reference else ("passed" if self.passed else "refused")

    @classmethod
    def from_json(cls, name: str, raw: Mapping[str, Any]) -> ArtifactCard:
        """A card from its stored JSON; keys it does not name go to `details`."""
        known = {f.name for f in fields(cls)} - {"name", "details"}
        typed = {k: raw[k] for k in known if k in raw}
        for key in ("metric", "size_mb", "latency_b1_p50_ms", "latency_b1_p95_ms", "throughput_b32_per_s"):
            if typed.get(key) is not None:
                typed[key] = float(typed[key])
        typed["passed"], typed["forced"] = bool(raw.get("passed")), bool(raw.get("forced"))
        gate = raw.get("gate")
        typed["gate"] = dict(gate) if isinstance(gate, Mapping) else None
        return cls(name, **typed, details={k: v for k, v in raw.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        """The stored form: flat, as every version wrote it (a reference card has no gate/passed/forced)."""
        out: dict[str, Any] = {"backend": self.backend, **self.details, "metric_name": self.metric_name,
                               "metric": self.metric}
        if not self.is_reference:
            out.update(gate=self.gate, passed=self.passed, forced=self.forced)
        optional = {"size_mb": self.size_mb, "latency_b1_p50_ms": self.latency_b1_p50_ms,
                    "latency_b1_p95_ms": self.latency_b1_p95_ms, "throughput_b32_per_s": self.throughput_b32_per_s}
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.run_path is not None:
            out["run_path"] = self.run_path
        return out


def read_cards(artifacts: Mapping[str, Any]) -> dict[str, ArtifactCard]:
    """The cards in a manifest's `artifacts` (entries that are not objects are skipped)."""
    stored = artifacts.get(OPTIMIZED) if isinstance(artifacts, Mapping) else None
    if not isinstance(stored, Mapping):
        return {}
    return {str(name): ArtifactCard.from_json(str(name), raw) for name, raw in stored.items()
            if isinstance(raw, Mapping)}


def with_cards(artifacts: Mapping[str, Any], cards: Mapping[str, ArtifactCard]) -> dict[str, Any]:
    """`artifacts` with `cards` added, replacing same-named ones."""
    optimized = {**(artifacts.get(OPTIMIZED) or {}), **{name: card.to_json() for name, card in cards.items()}}
    return {**artifacts, OPTIMIZED: optimized}
