"""Routing as arrays, its metrics, and the choice of the two thresholds for a target out-of-scope precision or recall.

A question goes to its top intent when the classifier's probability is >= `intent`; else to its nearest FAQ
entry when the cosine similarity is >= `faq`; else it is handed off (predicted out of scope).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tunelab.apps.assistant.kb import OUT_OF_SCOPE
from tunelab.errors import UsageError

NEVER = 1.01  # a threshold no probability or cosine reaches


@dataclass(frozen=True)
class Thresholds:
    intent: float
    faq: float


@dataclass(frozen=True)
class Target:
    """`metric` is "precision" or "recall" of the out-of-scope (hand-off) decision; `value` in (0, 1]."""

    metric: str = "recall"
    value: float = 0.8

    @classmethod
    def parse(cls, text: str) -> Target:
        """`recall=0.8`, `precision=0.9` (also `oos_recall=...`)."""
        name, _, value = text.partition("=")
        name = name.strip().removeprefix("oos_")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if name not in ("precision", "recall") or not 0 < number <= 1:
            raise UsageError(f"bad target {text!r}", hint="write recall=0.8 or precision=0.9 (out-of-scope)")
        return cls(name, number)


@dataclass(frozen=True)
class Scored:
    """The inputs of routing for n questions: top intent and its probability, nearest FAQ entry and its cosine."""

    intent: np.ndarray  # (n,) str: top intent ("" when the assistant has no intents)
    intent_p: np.ndarray  # (n,) float
    faq: np.ndarray  # (n,) str: nearest FAQ id ("" when none)
    faq_s: np.ndarray  # (n,) float


@dataclass(frozen=True)
class RouteMetrics:
    in_scope_accuracy: float  # in-scope questions answered with the right intent or FAQ entry
    oos_precision: float  # hand-offs that were really out of scope
    oos_recall: float  # out-of-scope questions that were handed off
    handoff_rate: float
    in_scope: int
    out_of_scope: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def route_labels(scored: Scored, thresholds: Thresholds) -> np.ndarray:
    """The label each question is routed to: an intent, a FAQ id, or OUT_OF_SCOPE."""
    to_intent = scored.intent_p >= thresholds.intent
    to_faq = ~to_intent & (scored.faq_s >= thresholds.faq)
    return np.where(to_intent, scored.intent, np.where(to_faq, scored.faq, OUT_OF_SCOPE))


def score_routes(predicted: np.ndarray, gold: Sequence[str]) -> RouteMetrics:
    gold_arr = np.asarray(gold, dtype=object)
    oos = gold_arr == OUT_OF_SCOPE
    handed = predicted == OUT_OF_SCOPE
    hits = predicted == gold_arr
    return RouteMetrics(
        in_scope_accuracy=float(hits[~oos].mean()) if (~oos).any() else 0.0,
        oos_precision=float((handed & oos).sum() / handed.sum()) if handed.any() else 0.0,
        oos_recall=float((handed & oos).sum() / oos.sum()) if oos.any() else 0.0,
        handoff_rate=float(handed.mean()) if len(handed) else 0.0,
        in_scope=int((~oos).sum()), out_of_scope=int(oos.sum()))


@dataclass(frozen=True)
class Calibration:
    thresholds: Thresholds
    target: Target
    target_met: bool
    metrics: RouteMetrics  # on the calibration questions, at the chosen thresholds

    def to_dict(self) -> dict[str, object]:
        return {"thresholds": asdict(self.thresholds), "target": asdict(self.target), "target_met": self.target_met,
                "metrics": self.metrics.to_dict()}


def calibrate(scored: Scored, gold: Sequence[str], target: Target, grid: int = 40) -> Calibration:
    """Search both thresholds over the scores' quantiles. Recall target: the most in-scope accuracy among
    settings that hand off at least `value` of the out-of-scope questions. Precision target: the highest
    out-of-scope recall among settings whose hand-offs are at least `value` out of scope. When no setting
    reaches the target, the one closest to it (target_met false)."""
    if not any(g == OUT_OF_SCOPE for g in gold):
        raise UsageError("calibration needs out-of-scope questions",
                         hint="add out_of_scope examples to the knowledge base, or let the build hold out intents")
    best: tuple[tuple[float, ...], Thresholds, RouteMetrics] | None = None
    for t_intent in _candidates(scored.intent_p, grid):
        for t_faq in _candidates(scored.faq_s, grid):
            thresholds = Thresholds(float(t_intent), float(t_faq))
            metrics = score_routes(route_labels(scored, thresholds), gold)
            key = _rank(metrics, target)
            if best is None or key > best[0]:
                best = (key, thresholds, metrics)
    assert best is not None
    return Calibration(best[1], target, bool(best[0][0]), best[2])


def _rank(m: RouteMetrics, target: Target) -> tuple[float, ...]:
    """Sort key: meets the target first, then the quantity to maximise, then tie-breakers."""
    if target.metric == "recall":
        met = m.oos_recall >= target.value - 1e-9
        return (float(met), m.in_scope_accuracy if met else m.oos_recall, m.oos_precision)
    met = m.oos_precision >= target.value - 1e-9 and m.oos_recall > 0
    return (float(met), m.oos_recall if met else m.oos_precision, m.in_scope_accuracy)


def _candidates(values: np.ndarray, grid: int) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [NEVER]
    quantiles = np.quantile(finite, np.linspace(0, 1, grid + 1))
    # a threshold just above each quantile value, so "score >= t" can exclude it; plus "never"
    return sorted({round(float(q) + 1e-6, 6) for q in quantiles} | {float(finite.min()) - 1e-6, NEVER})
