"""Paired tests against hand-computed numbers, and the promotion rules on fixed comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.loop.compare import bootstrap_f1, discordant, mcnemar, per_class_f1
from tunelab.loop.decide import compare, decide
from tunelab.loop.policy import PromotionPolicy


def test_mcnemar_exact_and_mid_p_on_a_hand_computed_table() -> None:
    # b = 1, c = 9: n = 10 discordant pairs. P(X <= 1) = (1 + 10) / 1024; P(X = 1) = 10 / 1024.
    exact = mcnemar(1, 9, mid_p=False)
    assert exact.p_value == pytest.approx(22 / 1024) and exact.statistic == 1 and exact.method == "mcnemar-exact"
    midp = mcnemar(1, 9)
    assert midp.p_value == pytest.approx(22 / 1024 - 10 / 1024) and midp.method == "mcnemar-midp"
    assert mcnemar(9, 1).p_value == midp.p_value  # two-sided: symmetric
    assert mcnemar(3, 3).p_value == pytest.approx(1.0) and mcnemar(0, 0).p_value == 1.0
    assert mcnemar(0, 5, mid_p=False).p_value == pytest.approx(2 / 32)  # 5 wins alone are not significant...
    assert mcnemar(0, 5).p_value == pytest.approx(2 / 32 - 1 / 32)  # ...exactly, but are by mid-p


def test_discordant_pairs_and_per_class_f1() -> None:
    gold = [frozenset({x}) for x in "aabbcc"]
    old = [frozenset({x}) for x in "abbbca"]
    new = [frozenset({x}) for x in "aabbcb"]
    assert discordant(gold, old, new) == (0, 1)  # the challenger fixes example 2; both miss example 6
    f1 = per_class_f1(gold, old, ["a", "b", "c"])
    assert f1 == pytest.approx({"a": 2 / 4, "b": 4 / 5, "c": 2 / 3})


def _sets(text: str) -> list[frozenset[str]]:
    return [frozenset({x}) for x in text]


def test_decide_promotes_a_significant_gain_and_names_why_it_refuses() -> None:
    rules = PromotionPolicy(min_golden_size=10, max_class_drop=10.0)
    gold = _sets("aaaaabbbbbcccccc")
    better = compare(gold, _sets("bbbbbbbbbbcccccc"), _sets("aaaaabbbbbcccccc"), ["a", "b", "c"])
    assert decide(better, rules).promote
    assert "p = 0.03125 (b = 0, c = 5)" in decide(better, rules).reason
    worse = compare(gold, _sets("aaaaabbbbbcccccc"), _sets("aaaabbbbbbcccccc"), ["a", "b", "c"])
    refused = decide(worse, rules)
    assert not refused.promote and "not better" in refused.reason
    small = decide(better, PromotionPolicy(min_golden_size=100))
    assert not small.promote and "16 examples; the policy needs at least 100" in small.reason
    strict = decide(better, PromotionPolicy(min_golden_size=10, significance=0.01))
    assert not strict.promote and "not significant" in strict.reason


def test_a_significant_gain_that_costs_one_class_too_much_is_refused() -> None:
    gold = _sets("aaaaaaaaaabbbbbbbbbbcc")
    old = _sets("bbbbbbbbbbbbbbbbbbbbcc")  # never right on a
    new = _sets("aaaaaaaaaabbbbbbbbbbaa")  # right on a, but c is lost
    comparison = compare(gold, old, new, ["a", "b", "c"])
    assert comparison.class_deltas["c"] == -100.0
    refused = decide(comparison, PromotionPolicy(min_golden_size=10, max_class_drop=5.0))
    assert not refused.promote and "class F1 drops beyond 5 points: c -100.0" in refused.reason


def test_paired_bootstrap_of_ner_f1() -> None:
    old = np.array([[1, 1, 1]] * 20)  # F1 0.5 everywhere
    new = np.array([[2, 0, 0]] * 20)  # F1 1.0 everywhere
    result = bootstrap_f1(old, new, samples=200)
    assert result.difference == pytest.approx(0.5) and result.p_value == 0.0 and result.low > 0
    same = bootstrap_f1(old, old, samples=200)
    assert same.difference == 0 and same.p_value == 1.0
    with pytest.raises(ValueError):
        bootstrap_f1(old, new[:, :2])


def test_ner_entities_are_compared_by_paired_bootstrap_and_per_type_f1() -> None:
    gold = [frozenset({(0, 5, "PER"), (10, 15, "LOC")})] * 12
    old = [frozenset({(0, 5, "PER")})] * 12  # misses every LOC
    new = [frozenset({(0, 5, "PER"), (10, 15, "LOC")})] * 12
    comparison = compare(gold, old, new, ["LOC", "PER"], method="bootstrap", samples=200)
    assert comparison.champion.f1 == pytest.approx(2 / 3) and comparison.challenger.f1 == 1.0
    assert comparison.class_deltas == {"LOC": 100.0, "PER": 0.0}
    assert comparison.test.better and comparison.test.p_value == 0.0 and comparison.test.method == "bootstrap"
    assert decide(comparison, PromotionPolicy(min_golden_size=10)).promote
    backwards = compare(gold, new, old, ["LOC", "PER"], method="bootstrap", samples=200)
    assert not decide(backwards, PromotionPolicy(min_golden_size=10)).promote
