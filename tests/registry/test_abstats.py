"""A/B statistics checked against hand-computed values and scipy, plus the sticky version choice."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest
from scipy import stats

from tunelab.errors import UsageError
from tunelab.registry.abstats import (
    ABReport,
    ArmResult,
    ab_report,
    sample_size_two_proportions,
    sticky_choice,
    two_proportion_test,
    wilson_interval,
)

# --- Wilson interval -------------------------------------------------------------------------------------------


def test_wilson_matches_hand_computation() -> None:
    # 8/10 at 95%: z = 1.959964; center = (0.8 + z²/20) / (1 + z²/10); half = z/(1 + z²/10) * sqrt(.016 + z²/400)
    z = 1.959963984540054
    denom = 1 + z * z / 10
    center = (0.8 + z * z / 20) / denom
    half = z / denom * math.sqrt(0.8 * 0.2 / 10 + z * z / 400)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(center - half, abs=1e-12)
    assert high == pytest.approx(center + half, abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)  # the textbook value


def test_wilson_edges_and_confidence() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
    narrow, wide = wilson_interval(50, 100, 0.80), wilson_interval(50, 100, 0.99)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


@pytest.mark.parametrize("args", [(5, 4), (-1, 4), (1.5, 4), (True, 4), (1, 4, 1.0), (1, 4, 0.0), (1, 4, 95)])
def test_wilson_rejects_bad_arguments(args: tuple) -> None:
    with pytest.raises(UsageError):
        wilson_interval(*args)


# --- two-proportion test ---------------------------------------------------------------------------------------


def test_z_test_matches_hand_computation_and_chi_square() -> None:
    # 84/100 vs 70/100: pooled p = 0.77, se = sqrt(.77 * .23 * (1/100 + 1/100)), z = 0.14 / se
    se = math.sqrt(0.77 * 0.23 * 0.02)
    expected = 2 * stats.norm.sf(0.14 / se)
    p = two_proportion_test(84, 100, 70, 100)
    assert p == pytest.approx(expected, rel=1e-9)
    assert p == pytest.approx(0.01866, abs=1e-4)
    # The pooled z-test is the chi-square test of the 2x2 table without continuity correction.
    chi2 = stats.chi2_contingency([[84, 16], [70, 30]], correction=False)
    assert p == pytest.approx(chi2.pvalue, rel=1e-9)
    assert two_proportion_test(70, 100, 84, 100) == pytest.approx(p, rel=1e-12)  # symmetric


def test_small_counts_fall_back_to_fisher() -> None:
    # expected failures in arm 1 = 10 * 5/20 = 2.5 < 5
    p = two_proportion_test(9, 10, 6, 10)
    assert p == pytest.approx(stats.fisher_exact([[9, 1], [6, 4]])[1], rel=1e-12)
    assert two_proportion_test(0, 3, 3, 3) == pytest.approx(stats.fisher_exact([[0, 3], [3, 0]])[1], rel=1e-12)
    assert two_proportion_test(5, 5, 7, 7) == 1.0  # all successes: no evidence either way


def test_empty_arm_gives_one_and_bad_counts_raise() -> None:
    assert two_proportion_test(0, 0, 5, 10) == 1.0
    assert two_proportion_test(5, 10, 0, 0) == 1.0
    with pytest.raises(UsageError):
        two_proportion_test(11, 10, 5, 10)
    with pytest.raises(UsageError):
        two_proportion_test(1, 10, -1, 10)


def test_sample_size_known_values() -> None:
    assert sample_size_two_proportions(0.5, 0.55) == 1565  # classic table value, alpha .05, power .8
    assert sample_size_two_proportions(0.8, 0.85) == 906
    assert sample_size_two_proportions(0.5, 0.55, alpha=0.025) > 1565
    with pytest.raises(UsageError):
        sample_size_two_proportions(0.5, 0.5)


# --- ab_report -------------------------------------------------------------------------------------------------


def test_clearly_different_pair_is_significant() -> None:
    report = ab_report("intent", {2: (795, 1000), 3: (840, 1000)}, weights={2: 0.5, 3: 0.5})
    assert isinstance(report, ABReport)
    assert report.best_version == 3 and report.significant
    assert report.p_value == pytest.approx(two_proportion_test(840, 1000, 795, 1000))
    assert report.p_value < 0.05
    assert report.message.startswith("version 3 is better than version 2 (84.0% vs 79.5%, p=0.0092 < 0.05")
    assert [a.version for a in report.arms] == [2, 3]
    arm = report.arms[1]
    assert arm == ArmResult(3, 1000, 840, 0.84, *wilson_interval(840, 1000), 0.5)


def test_close_pair_is_not_significant_and_says_how_much_more() -> None:
    report = ab_report("intent", {1: (160, 200), 2: (164, 200)})
    assert not report.significant
    assert report.best_version == 2 and report.p_value > 0.3
    pooled = 324 / 400
    more = sample_size_two_proportions(pooled, pooled + 0.05) - 200
    assert report.message.startswith(f"no significant difference yet (p={report.p_value:.2g})")
    assert f"about {more} more feedback items per version" in report.message
    assert "5-point difference" in report.message
    assert all(a.weight is None for a in report.arms)


def test_large_samples_with_no_difference_say_so() -> None:
    report = ab_report("m", {1: (8000, 10000), 2: (8010, 10000)})
    assert not report.significant
    assert report.message.startswith("no significant difference (")
    assert "probably smaller" in report.message


def test_min_samples_blocks_a_verdict() -> None:
    report = ab_report("m", {2: (12, 12), 3: (500, 1000)})
    assert not report.significant
    assert report.message == "not enough feedback: version 2 has 12 of the 30 needed"
    report = ab_report("m", {1: (3, 5), 2: (12, 12), 3: (500, 1000)}, min_samples=20)
    assert report.message == "not enough feedback: version 1 has 5 and version 2 has 12 of the 20 needed"


def test_fewer_than_two_arms() -> None:
    for counts in ({}, {4: (90, 100)}):
        report = ab_report("m", counts)
        assert report.best_version is None and report.p_value is None and not report.significant
        assert "needs two versions" in report.message


def test_three_arms_use_bonferroni() -> None:
    counts = {1: (900, 1000), 2: (860, 1000), 3: (700, 1000)}
    report = ab_report("m", counts)
    raw = [two_proportion_test(900, 1000, 860, 1000), two_proportion_test(900, 1000, 700, 1000)]
    assert report.best_version == 1
    assert report.p_value == pytest.approx(min(1.0, 2 * max(raw)))
    assert report.significant
    assert "versions 2 and 3" in report.message and "Bonferroni" in report.message

    # Clearly better than version 3 but not than version 2: no winner, and the message names version 2.
    report = ab_report("m", {1: (800, 1000), 2: (780, 1000), 3: (700, 1000)})
    assert not report.significant and report.best_version == 1
    assert report.message.startswith(
        "no clear winner yet: version 1 (80.0%) is not significantly better than version 2"
    )


def test_bonferroni_can_remove_significance() -> None:
    # raw p ~ 0.037 < 0.05 for 1 vs 2 alone; doubled for two comparisons it is not significant
    pair = {1: (836, 1000), 2: (800, 1000)}
    raw = two_proportion_test(836, 1000, 800, 1000)
    assert 0.025 < raw < 0.05
    assert ab_report("m", pair).significant
    report = ab_report("m", {**pair, 3: (700, 1000)})
    assert not report.significant and report.p_value == pytest.approx(2 * raw)


def test_to_dict_is_json_ready() -> None:
    report = ab_report("intent", {2: (795, 1000), 3: (840, 1000), 4: (0, 0)}, weights={3: 1.0}, min_samples=0)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["model"] == "intent" and d["best_version"] == 3 and d["alpha"] == 0.05
    assert [a["version"] for a in d["arms"]] == [2, 3, 4]
    assert d["arms"][2]["accuracy"] is None and d["arms"][2]["ci_low"] == 0.0 and d["arms"][2]["ci_high"] == 1.0
    assert [a["weight"] for a in d["arms"]] == [None, 1.0, None]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"counts": {1: (11, 10), 2: (5, 10)}},
        {"counts": {1: (5, 10), 2: (5,)}},
        {"counts": {"one": (5, 10), 2: (5, 10)}},
        {"counts": {1: (5, 10), 2: (5, 10)}, "alpha": 0.0},
        {"counts": {1: (5, 10), 2: (5, 10)}, "min_samples": -1},
        {"counts": {1: (5, 10), 2: (5, 10)}, "weights": {1: -0.5}},
    ],
)
def test_ab_report_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        ab_report("m", **kwargs)


# --- sticky_choice ---------------------------------------------------------------------------------------------


def test_sticky_choice_is_deterministic_and_order_independent() -> None:
    weights = {1: 0.3, 2: 0.3, 3: 0.4}
    reversed_weights = dict(reversed(list(weights.items())))
    ids = [f"key-{i}" for i in range(200)]
    first = [sticky_choice(i, weights) for i in ids]
    assert first == [sticky_choice(i, weights) for i in ids]
    assert first == [sticky_choice(i, reversed_weights) for i in ids]
    assert set(first) == {1, 2, 3}
    # Pinned values: the draw is SHA-256 of salt + caller_id, so these never change between processes or versions
    # ("alice" draws 0.171..., "bob" 0.507...).
    assert sticky_choice("alice", {1: 0.5, 2: 0.5}) == 1
    assert sticky_choice("bob", {2: 0.5, 1: 0.5}) == 2
    assert sticky_choice("bob", {1: 0.6, 2: 0.4}) == 1
    salted = [sticky_choice(i, weights, salt="exp-2") for i in ids]
    assert salted != first  # a new salt reshuffles callers


@pytest.mark.parametrize("weights", [{1: 0.9, 2: 0.1}, {1: 0.5, 2: 0.5}])
def test_sticky_choice_split_matches_weights(weights: dict[int, float]) -> None:
    rng = random.Random(1234)
    n = 20_000
    counts = Counter(sticky_choice(f"{rng.getrandbits(64):016x}", weights) for _ in range(n))
    for version, w in weights.items():
        assert abs(counts[version] / n - w) <= 0.02


def test_zero_weight_never_chosen() -> None:
    weights = {1: 0.0, 2: 1.0, 3: 0.0}
    assert {sticky_choice(f"id{i}", weights) for i in range(2000)} == {2}
    weights = {1: 0.5, 2: 0.0, 3: 0.5}
    assert {sticky_choice(f"id{i}", weights) for i in range(2000)} == {1, 3}


@pytest.mark.parametrize(
    "weights", [{}, {1: 0.0, 2: 0.0}, {1: -0.1, 2: 1.0}, {1: float("nan")}, {1: float("inf")}, {"a": 1.0}]
)
def test_sticky_choice_rejects_bad_weights(weights: dict) -> None:
    with pytest.raises(UsageError):
        sticky_choice("caller", weights)
