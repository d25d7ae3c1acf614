"""Routing as arrays, its metrics, and the choice of thresholds for a target out-of-scope precision or recall.

With an out-of-scope score (`Thresholds.ood` set) a question whose score is >= `ood` is handed off. Otherwise
(and for assistants built before that score existed) it goes to its top intent when the classifier's probability
is >= `intent`; else to its nearest FAQ entry when the cosine similarity is >= `faq`; else it is handed off.
Precision depends on the share of out-of-scope questions: given `oos_share`, the calibration questions are
reweighted to it (recall and in-scope accuracy do not depend on it).
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
    ood: float | None = None  # hand off when the out-of-scope score is >= this (None: the two thresholds alone)


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
    ood: np.ndarray | None = None  # (n,) the out-of-scope score that decides hand-offs (higher: more likely)

    def take(self, index: np.ndarray) -> Scored:
        """The questions at `index` (integer positions or a boolean mask)."""
        return Scored(self.intent[index], self.intent_p[index], self.faq[index], self.faq_s[index],
                      None if self.ood is None else self.ood[index])


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
    labels = np.where(to_intent, scored.intent, np.where(to_faq, scored.faq, OUT_OF_SCOPE))
    if thresholds.ood is not None and scored.ood is not None:
        labels = np.where(scored.ood >= thresholds.ood, OUT_OF_SCOPE, labels)
    return labels


def score_routes(predicted: np.ndarray, gold: Sequence[str], oos_share: float | None = None) -> RouteMetrics:
    """Route metrics; with `oos_share` the hand-off precision and rate are those of traffic with that share of
    out-of-scope questions (the in-scope and out-of-scope questions reweighted to it)."""
    gold_arr = np.asarray(gold, dtype=object)
    oos = gold_arr == OUT_OF_SCOPE
    handed = predicted == OUT_OF_SCOPE
    hits = predicted == gold_arr
    recall = float((handed & oos).sum() / oos.sum()) if oos.any() else 0.0
    false_rate = float((handed & ~oos).sum() / (~oos).sum()) if (~oos).any() else 0.0
    share = float(oos.mean()) if oos_share is None or not len(oos) else oos_share
    rate = share * recall + (1 - share) * false_rate
    return RouteMetrics(
        in_scope_accuracy=float(hits[~oos].mean()) if (~oos).any() else 0.0,
        oos_precision=share * recall / rate if rate > 0 else 0.0,
        oos_recall=recall, handoff_rate=rate, in_scope=int((~oos).sum()), out_of_scope=int(oos.sum()))


@dataclass(frozen=True)
class Calibration:
    thresholds: Thresholds
    target: Target
    target_met: bool
    metrics: RouteMetrics  # on the calibration questions, at the chosen thresholds (precision under oos_share)
    oos_share: float | None = None  # the out-of-scope share the precision was computed for (None: the split's)

    def to_dict(self) -> dict[str, object]:
        return {"thresholds": asdict(self.thresholds), "target": asdict(self.target), "target_met": self.target_met,
                "metrics": self.metrics.to_dict(), "oos_share": self.oos_share}


def calibrate(scored: Scored, gold: Sequence[str], target: Target, grid: int = 40,
              oos_share: float | None = None) -> Calibration:
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
            metrics = score_routes(route_labels(scored, thresholds), gold, oos_share)
            key = _rank(metrics, target)
            if best is None or key > best[0]:
                best = (key, thresholds, metrics)
    assert best is not None
    return Calibration(best[1], target, bool(best[0][0]), best[2], oos_share)


def calibrate_ood(scored: Scored, gold: Sequence[str], target: Target, oos_share: float | None = None,
                  grid: int = 200) -> Calibration:
    """Thresholds when `scored.ood` decides hand-offs: `intent` (intent or FAQ answer) maximises the in-scope
    accuracy without hand-offs; then `ood` is searched over the score's quantiles for the target, precision
    computed under `oos_share`."""
    gold_arr = np.asarray(gold, dtype=object)
    if scored.ood is None or not (gold_arr == OUT_OF_SCOPE).any():
        raise UsageError("calibration needs out-of-scope questions and an out-of-scope score")
    t_intent = _pick_intent_threshold(scored, gold_arr)
    t_faq = -1.0 if np.isfinite(scored.faq_s).any() else NEVER  # below the threshold any FAQ entry answers
    best: tuple[tuple[float, ...], Thresholds, RouteMetrics] | None = None
    for t in _candidates(scored.ood, grid) + [float(scored.ood.max()) + 1.0]:
        thresholds = Thresholds(t_intent, t_faq, float(t))
        metrics = score_routes(route_labels(scored, thresholds), gold, oos_share)
        key = _rank(metrics, target)
        if best is None or key > best[0]:
            best = (key, thresholds, metrics)
    assert best is not None
    return Calibration(best[1], target, bool(best[0][0]), best[2], oos_share)


def _pick_intent_threshold(scored: Scored, gold: np.ndarray) -> float:
    """The intent probability above which an intent, not a FAQ entry, answers (most in-scope hits)."""
    in_scope = gold != OUT_OF_SCOPE
    has_intent = bool(np.isfinite(scored.intent_p).any())
    has_faq = bool(np.isfinite(scored.faq_s).any())
    if not has_faq or not in_scope.any():
        return 0.0 if has_intent else NEVER
    if not has_intent:
        return NEVER
    best_t, best_hits = NEVER, -1
    for t in [0.0, *_candidates(scored.intent_p[in_scope], 40)]:
        labels = np.where(scored.intent_p >= t, scored.intent, scored.faq)
        hits = int((labels[in_scope] == gold[in_scope]).sum())
        if hits > best_hits:
            best_t, best_hits = float(t), hits
    return best_t


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
