"""Time to a target test metric from a side's metric curve, and a throughput ratio split into its causes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

# Both sides round their test metrics to 6 digits; a point at the target (the Trainer's own last point)
# must count as reaching it.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class CurvePoint:
    """One test evaluation during a job: wall seconds since the job started (after the evaluation, so data
    loading, tokenisation, training so far and every evaluation so far are in it) and the metric it gave."""

    elapsed_seconds: float
    metric: float
    epoch: float
    step: int
    eval_seconds: float

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, float | int]) -> CurvePoint:
        return cls(float(raw["elapsed_seconds"]), float(raw["metric"]), float(raw["epoch"]), int(raw["step"]),
                   float(raw["eval_seconds"]))


def time_to_target(curve: Iterable[CurvePoint], target: float) -> float | None:
    """Elapsed seconds at the first evaluation whose metric reaches `target`; None when none does."""
    for point in sorted(curve, key=lambda p: p.elapsed_seconds):
        if point.metric >= target - TOLERANCE:
            return point.elapsed_seconds
    return None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator rounded to 3 digits; None when either is missing or the denominator is not > 0."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 3)


@dataclass(frozen=True)
class SpeedFactors:
    """Training samples/s ratios, each step changing one thing: the Trainer's defaults -> length grouping (and
    TuneLab's attention kernel) -> bf16 -> TuneLab's loop. Their product is TuneLab against the defaults."""

    grouping: float | None  # Trainer fp32 grouped / Trainer defaults
    precision: float | None  # Trainer best (bf16, grouped) / Trainer fp32 grouped
    loop: float | None  # TuneLab / Trainer best
    total_vs_defaults: float | None  # TuneLab / Trainer defaults


def speed_factors(tunelab: float | None, best: float | None, grouped_fp32: float | None,
                  defaults: float | None, best_is_bf16: bool) -> SpeedFactors:
    """Split TuneLab's samples/s lead over the Trainer's defaults into grouping, precision and loop. Where the
    best side runs fp32 (a CPU without native bf16) it is the fp32 grouped side: precision is 1. Where it runs
    bf16 and no fp32 ablation ran, grouping and precision are unknown (None), not 1."""
    if not best_is_bf16:
        grouped_fp32 = best
    precision = ratio(best, grouped_fp32) if best_is_bf16 else (1.0 if best is not None else None)
    return SpeedFactors(ratio(grouped_fp32, defaults), precision, ratio(tunelab, best), ratio(tunelab, defaults))
