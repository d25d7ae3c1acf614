"""Score champion and challenger on the same labelled texts and decide: promote only a significant, safe gain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tunelab.loop.compare import (
    LabelSets,
    accuracy,
    bootstrap_f1,
    class_drops,
    discordant,
    item_counts,
    mcnemar,
    micro_f1,
    per_class_f1,
)
from tunelab.loop.policy import PromotionPolicy
from tunelab.types import ClassPrediction, MultiLabelPrediction, NerPrediction, Prediction


@dataclass(frozen=True)
class Scores:
    """One model on one example set: exact-match accuracy, micro-F1 over labels or entities, F1 per class."""

    examples: int
    accuracy: float
    f1: float
    per_class_f1: dict[str, float]


@dataclass(frozen=True)
class PairedTest:
    """The paired test's verdict: McNemar on exact matches, or a paired bootstrap of micro-F1 (NER)."""

    method: str  # mcnemar-midp | mcnemar-exact | bootstrap
    statistic: float  # McNemar: min(b, c); bootstrap: micro-F1 difference, challenger - champion
    p_value: float
    better: bool  # the challenger is ahead (c > b; a positive F1 difference)
    detail: str  # "b = 1, c = 9" or "F1 +0.120, 95% CI [+0.05, +0.19]"


@dataclass(frozen=True)
class Comparison:
    """Both models on one example set, with the paired test and the per-class F1 deltas (points)."""

    champion: Scores
    challenger: Scores
    test: PairedTest
    class_deltas: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def answer_of(prediction: Prediction) -> frozenset[Any]:
    """What a prediction says, as a set: its label, its labels, or its (start, end, type) entities."""
    if isinstance(prediction, ClassPrediction):
        return frozenset((prediction.label,))
    if isinstance(prediction, MultiLabelPrediction):
        return frozenset(prediction.labels)
    if isinstance(prediction, NerPrediction):
        return frozenset((s.start, s.end, s.label) for s in prediction.spans)
    raise TypeError(f"no answer set for a {type(prediction).__name__}")


def score(gold: LabelSets, predicted: LabelSets, labels: Sequence[str]) -> Scores:
    return Scores(len(gold), round(accuracy(gold, predicted), 6), round(micro_f1(gold, predicted), 6),
                  {k: round(v, 6) for k, v in per_class_f1(gold, predicted, labels).items()})


def paired_test(gold: LabelSets, champion: LabelSets, challenger: LabelSets, method: str,
                samples: int = 2000) -> PairedTest:
    if method == "bootstrap":
        boot = bootstrap_f1(item_counts(gold, champion), item_counts(gold, challenger), samples=samples)
        return PairedTest(method, round(boot.difference, 6), boot.p_value, boot.difference > 0,
                          f"F1 {boot.difference:+.3f}, 95% CI [{boot.low:+.3f}, {boot.high:+.3f}]")
    b, c = discordant(gold, champion, challenger)
    test = mcnemar(b, c, mid_p=method == "mcnemar-midp")
    return PairedTest(test.method, test.statistic, test.p_value, c > b, f"b = {b}, c = {c}")


def compare(gold: LabelSets, champion: LabelSets, challenger: LabelSets, labels: Sequence[str],
            method: str = "mcnemar-midp", samples: int = 2000) -> Comparison:
    old, new = score(gold, champion, labels), score(gold, challenger, labels)
    return Comparison(old, new, paired_test(gold, champion, challenger, method, samples),
                      class_drops(old.per_class_f1, new.per_class_f1, gold))


def decide(golden: Comparison, rules: PromotionPolicy) -> Decision:
    """Promote when the golden set is big enough, the challenger is ahead with p below the significance level,
    and no class's F1 drops by more than allowed."""
    n, test = golden.champion.examples, golden.test
    if n < rules.min_golden_size:
        return Decision(False, f"the golden set has {n} examples; the policy needs at least {rules.min_golden_size}")
    if not test.better:
        return Decision(False, f"the challenger is not better on the golden set ({test.method}: {test.detail})")
    if test.p_value >= rules.significance:
        return Decision(False, f"the gain is not significant: {test.method} p = {test.p_value:.4g} >= "
                               f"{rules.significance:g} ({test.detail})")
    drops = {k: -v for k, v in golden.class_deltas.items() if -v > rules.max_class_drop}
    if drops:
        worst = ", ".join(f"{k} -{v:.1f}" for k, v in sorted(drops.items(), key=lambda kv: -kv[1]))
        return Decision(False, f"class F1 drops beyond {rules.max_class_drop:g} points: {worst}")
    return Decision(True, f"better on the golden set: accuracy {100 * golden.champion.accuracy:.1f} -> "
                          f"{100 * golden.challenger.accuracy:.1f}, F1 {100 * golden.champion.f1:.1f} -> "
                          f"{100 * golden.challenger.f1:.1f}, {test.method} p = {test.p_value:.4g} "
                          f"({test.detail}); no class dropped more than {rules.max_class_drop:g} points")
