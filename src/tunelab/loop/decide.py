"""Score champion and challenger on the same labelled texts and decide: promote only a significant, safe gain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tunelab.loop.compare import LabelSets, McNemar, accuracy, class_drops, discordant, mcnemar, per_class_f1
from tunelab.loop.policy import PromotionPolicy
from tunelab.types import ClassPrediction, MultiLabelPrediction, Prediction


@dataclass(frozen=True)
class Scores:
    """One model on one example set."""

    examples: int
    accuracy: float
    per_class_f1: dict[str, float]


@dataclass(frozen=True)
class Comparison:
    """Both models on one example set, with the paired test and the per-class F1 deltas (points)."""

    champion: Scores
    challenger: Scores
    test: McNemar
    class_deltas: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def label_set(prediction: Prediction) -> frozenset[str]:
    """The labels a prediction gives (one for single-label classification)."""
    if isinstance(prediction, ClassPrediction):
        return frozenset((prediction.label,))
    if isinstance(prediction, MultiLabelPrediction):
        return frozenset(prediction.labels)
    raise TypeError(f"the loop compares text classifiers; got {type(prediction).__name__}")


def score(gold: LabelSets, predicted: LabelSets, labels: Sequence[str]) -> Scores:
    return Scores(len(gold), round(accuracy(gold, predicted), 6),
                  {k: round(v, 6) for k, v in per_class_f1(gold, predicted, labels).items()})


def compare(gold: LabelSets, champion: LabelSets, challenger: LabelSets, labels: Sequence[str],
            mid_p: bool = True) -> Comparison:
    old, new = score(gold, champion, labels), score(gold, challenger, labels)
    b, c = discordant(gold, champion, challenger)
    return Comparison(old, new, mcnemar(b, c, mid_p=mid_p), class_drops(old.per_class_f1, new.per_class_f1, gold))


def decide(golden: Comparison, rules: PromotionPolicy) -> Decision:
    """Promote when the golden set is big enough, the challenger is right more often than the champion on the
    discordant pairs with p below the significance level, and no class's F1 drops by more than allowed."""
    n, test = golden.champion.examples, golden.test
    if n < rules.min_golden_size:
        return Decision(False, f"the golden set has {n} examples; the policy needs at least {rules.min_golden_size}")
    if test.c <= test.b:
        return Decision(False, f"the challenger is not better on the golden set: right where the champion was "
                               f"wrong {test.c} time(s), wrong where it was right {test.b} time(s)")
    if test.p_value >= rules.significance:
        return Decision(False, f"the gain is not significant: {test.method} p = {test.p_value:.4g} >= "
                               f"{rules.significance:g} (b = {test.b}, c = {test.c})")
    drops = {k: -v for k, v in golden.class_deltas.items() if -v > rules.max_class_drop}
    if drops:
        worst = ", ".join(f"{k} -{v:.1f}" for k, v in sorted(drops.items(), key=lambda kv: -kv[1]))
        return Decision(False, f"class F1 drops beyond {rules.max_class_drop:g} points: {worst}")
    return Decision(True, f"better on the golden set: accuracy {100 * golden.champion.accuracy:.1f} -> "
                          f"{100 * golden.challenger.accuracy:.1f}, {test.method} p = {test.p_value:.4g} "
                          f"(b = {test.b}, c = {test.c}); no class dropped more than {rules.max_class_drop:g} points")
