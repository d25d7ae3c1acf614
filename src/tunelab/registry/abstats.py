"""Statistics for an A/B test between model versions, scored on user feedback (correct / not correct).

Everything here is pure and deterministic: confidence intervals (Wilson), a two-sided two-proportion test
(pooled z-test, Fisher's exact test when counts are small), a report with a plain-English verdict, and a sticky
weighted choice of version per caller so one caller always sees the same version while the split holds.

Only the standard library is imported at module import time; scipy is loaded only for Fisher's exact test.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from tunelab.errors import UsageError

#: The difference (in accuracy, absolute) the "how much more feedback" estimate is sized to detect.
DETECTABLE_DIFFERENCE = 0.05
#: Statistical power the "how much more feedback" estimate is sized for.
POWER = 0.80

_STD_NORMAL = NormalDist()


def _count(name: str, value: object) -> int:
    """An integer count >= 0 (bools rejected: True is not a count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise UsageError(f"{name} must be >= 0, got {value}")
    return int(value)


def _counts(successes: object, n: object, what: str = "") -> tuple[int, int]:
    s, total = _count(f"successes{what}", successes), _count(f"n{what}", n)
    if s > total:
        raise UsageError(f"successes{what} ({s}) cannot exceed n{what} ({total})")
    return s, total


def _probability(name: str, value: float) -> float:
    """A float strictly between 0 and 1 (confidence, alpha, power)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise UsageError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return float(value)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; unlike the normal approximation it stays inside [0, 1] and
    behaves at 0 or n successes. With no observations nothing is known: (0.0, 1.0)."""
    s, total = _counts(successes, n)
    conf = _probability("confidence", confidence)
    if total == 0:
        return 0.0, 1.0
    z = _STD_NORMAL.inv_cdf(1.0 - (1.0 - conf) / 2.0)
    p = s / total
    z2n = z * z / total
    denom = 1.0 + z2n
    center = (p + z2n / 2.0) / denom
    half = (z / denom) * math.sqrt(p * (1.0 - p) / total + z2n / (4.0 * total))
    low = 0.0 if s == 0 else max(0.0, center - half)
    high = 1.0 if s == total else min(1.0, center + half)
    return low, high


def _fisher_exact_p(s1: int, n1: int, s2: int, n2: int) -> float:
    from scipy.stats import fisher_exact  # heavy: only needed for small counts

    _, p = fisher_exact([[s1, n1 - s1], [s2, n2 - s2]], alternative="two-sided")
    return float(p)


def two_proportion_test(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided p-value for "the two success rates are equal".

    Uses the pooled two-proportion z-test (equivalent to the chi-square test without continuity correction),
    and Fisher's exact test when any expected cell count is below 5, where the normal approximation is poor.
    Returns 1.0 when either arm has no observations (no evidence of a difference).
    """
    s1, n1 = _counts(s1, n1, "1")
    s2, n2 = _counts(s2, n2, "2")
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (s1 + s2) / (n1 + n2)
    expected = (n1 * pooled, n1 * (1.0 - pooled), n2 * pooled, n2 * (1.0 - pooled))
    if min(expected) < 5.0:
        return min(1.0, max(0.0, _fisher_exact_p(s1, n1, s2, n2)))
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = (s1 / n1 - s2 / n2) / se
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def sample_size_two_proportions(p1: float, p2: float, alpha: float = 0.05, power: float = POWER) -> int:
    """Observations needed *per arm* for a two-sided test at `alpha` to detect p1 vs p2 with `power`.

    The standard normal-approximation formula (no continuity correction):
    n = (z_{1-a/2} * sqrt(2 pbar qbar) + z_{power} * sqrt(p1 q1 + p2 q2))^2 / (p1 - p2)^2.
    """
    for name, value in (("p1", p1), ("p2", p2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
            raise UsageError(f"{name} must be a proportion in [0, 1], got {value!r}")
    if p1 == p2:
        raise UsageError("p1 and p2 must differ: no sample size detects a difference of zero")
    a, pw = _probability("alpha", alpha), _probability("power", power)
    z_a = _STD_NORMAL.inv_cdf(1.0 - a / 2.0)
    z_b = _STD_NORMAL.inv_cdf(pw)
    pbar = (p1 + p2) / 2.0
    numerator = z_a * math.sqrt(2.0 * pbar * (1.0 - pbar)) + z_b * math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
    return math.ceil(numerator**2 / (p1 - p2) ** 2)


@dataclass(frozen=True)
class ArmResult:
    """One version's feedback: `accuracy` is None when it has none; the interval is Wilson's at 95%."""

    version: int
    n: int
    correct: int
    accuracy: float | None
    ci_low: float
    ci_high: float
    weight: float | None


@dataclass(frozen=True)
class ABReport:
    """The outcome of an A/B test.

    `best_version` is the arm with the highest observed accuracy (None with fewer than two arms); it is a
    winner only when `significant` is True. `p_value` is the test of that arm against the others
    (Bonferroni-corrected, the largest, when there are more than two arms). `message` is the verdict in plain
    English.
    """

    model: str
    arms: tuple[ArmResult, ...]
    best_version: int | None
    p_value: float | None
    significant: bool
    alpha: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (arms as a list of dicts)."""
        return {
            "model": self.model,
            "arms": [
                {
                    "version": a.version,
                    "n": a.n,
                    "correct": a.correct,
                    "accuracy": a.accuracy,
                    "ci_low": a.ci_low,
                    "ci_high": a.ci_high,
                    "weight": a.weight,
                }
                for a in self.arms
            ],
            "best_version": self.best_version,
            "p_value": self.p_value,
            "significant": self.significant,
            "alpha": self.alpha,
            "message": self.message,
        }


def _fmt_p(p: float) -> str:
    """Two significant figures, the way p-values are usually quoted ("p=0.012", "p=0.31", "p<0.001")."""
    if p < 0.001:
        return "p<0.001"
    text = f"{p:.2g}"
    return f"p={text}.0" if "." not in text and "e" not in text else f"p={text}"


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.1f}%"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _version(value: object) -> int:
    if type(value) is int:  # the common case, checked first: sticky_choice runs once per request
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"versions must be integers, got {value!r}")
    return int(value)


def _weight(version: int, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | numbers.Real):
        raise UsageError(f"weight of version {version} must be a number, got {value!r}")
    w = float(value)
    if not 0.0 <= w < math.inf:  # also false for NaN
        raise UsageError(f"weight of version {version} must be a finite number >= 0, got {value!r}")
    return w


def _arms(counts: Mapping[int, tuple[int, int]], weights: Mapping[int, float] | None) -> tuple[ArmResult, ...]:
    checked_weights = {_version(v): _weight(v, w) for v, w in (weights or {}).items()}
    arms = []
    for raw_version, pair in counts.items():
        version = _version(raw_version)
        try:
            correct, n = pair
        except (TypeError, ValueError):
            raise UsageError(f"counts[{version}] must be a (correct, n) pair, got {pair!r}") from None
        correct, n = _counts(correct, n, f" of version {version}")
        low, high = wilson_interval(correct, n)
        arms.append(
            ArmResult(
                version=version,
                n=n,
                correct=correct,
                accuracy=correct / n if n else None,
                ci_low=low,
                ci_high=high,
                weight=checked_weights.get(version) if weights is not None else None,
            )
        )
    return tuple(sorted(arms, key=lambda a: a.version))


def _not_significant_message(
    arms: tuple[ArmResult, ...], best: ArmResult, unclear: list[ArmResult], p_value: float, alpha: float
) -> str:
    """'No difference yet' plus how much more feedback would detect a DETECTABLE_DIFFERENCE-point gap.

    `unclear` are the arms the best one is not significantly better than; the sample size is for the same
    (Bonferroni-corrected) alpha the test used, at the pooled accuracy of all arms.
    """
    comparisons = len(arms) - 1
    total_n = sum(a.n for a in arms)
    baseline = sum(a.correct for a in arms) / total_n if total_n else 0.5
    up = baseline + DETECTABLE_DIFFERENCE
    target = up if up <= 1.0 else baseline - DETECTABLE_DIFFERENCE
    smallest = min(a.n for a in arms)
    more = sample_size_two_proportions(baseline, target, alpha / comparisons, POWER) - smallest
    yet = " yet" if more > 0 else ""
    if comparisons == 1:
        head = f"no significant difference{yet} ({_fmt_p(p_value)})"
    else:
        versions = "version" + ("s" if len(unclear) > 1 else "")
        theirs = _join([f"{a.version} ({_fmt_pct(a.accuracy)})" for a in unclear])
        head = (
            f"no clear winner{yet}: version {best.version} ({_fmt_pct(best.accuracy)}) is not significantly better "
            f"than {versions} {theirs} ({_fmt_p(p_value)}, Bonferroni-corrected for {comparisons} comparisons)"
        )
    points = f"{100 * DETECTABLE_DIFFERENCE:g}-point"
    if more <= 0:
        return (
            f"{head}; with {smallest} or more feedback items per version a {points} difference would likely have "
            f"shown, so any real difference is probably smaller than that"
        )
    return f"{head}; about {more} more feedback items per version would be needed to detect a {points} difference"


def ab_report(
    model: str,
    counts: Mapping[int, tuple[int, int]],
    weights: Mapping[int, float] | None = None,
    alpha: float = 0.05,
    min_samples: int = 30,
) -> ABReport:
    """Compare model versions on feedback; `counts` maps version -> (correct, n), `weights` the traffic split.

    Two arms: one two-proportion test. More arms: the best observed arm against each other one, each p-value
    multiplied by the number of comparisons (Bonferroni); the report carries the largest, and the result is
    significant only if every comparison is. Nothing is significant while any arm has fewer than
    `min_samples` feedback items, so an early lucky streak is not declared a winner.
    """
    a = _probability("alpha", alpha)
    needed = _count("min_samples", min_samples)
    arms = _arms(counts, weights)

    def report(best: int | None, p: float | None, significant: bool, message: str) -> ABReport:
        return ABReport(model, arms, best, p, significant, a, message)

    if len(arms) < 2:
        have = f"only version {arms[0].version} has feedback" if arms else "no versions were given"
        return report(None, None, False, f"an A/B test needs two versions to compare; {have}")

    # Highest observed accuracy; ties go to the arm with more feedback, then the newer version.
    best = max(arms, key=lambda arm: (-1.0 if arm.accuracy is None else arm.accuracy, arm.n, arm.version))
    others = [arm for arm in arms if arm is not best]
    comparisons = len(others)
    corrected_p = [min(1.0, comparisons * two_proportion_test(best.correct, best.n, o.correct, o.n)) for o in others]
    p_value = max(corrected_p)

    short = [arm for arm in arms if arm.n < needed]
    if short:
        have = _join([f"version {arm.version} has {arm.n}" for arm in short])
        return report(best.version, p_value, False, f"not enough feedback: {have} of the {needed} needed")

    if p_value < a:
        versions = "version" + ("s" if comparisons > 1 else "")
        theirs = _join([_fmt_pct(o.accuracy) for o in others])
        shown = "p<0.001" if p_value < 0.001 <= a else f"p={p_value:.2g} < {a:g}"
        corrected = f" after Bonferroni correction for {comparisons} comparisons" if comparisons > 1 else ""
        message = (
            f"version {best.version} is better than {versions} {_join([str(o.version) for o in others])} "
            f"({_fmt_pct(best.accuracy)} vs {theirs}, {shown}{corrected})"
        )
        return report(best.version, p_value, True, message)

    unclear = [o for o, p in zip(others, corrected_p) if p >= a]
    return report(best.version, p_value, False, _not_significant_message(arms, best, unclear, p_value, a))


def _unit_float(text: str) -> float:
    """A float in [0, 1) from the first 53 bits of SHA-256: stable across processes, platforms and runs."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


def sticky_choice(caller_id: str, weights: Mapping[int, float], salt: str = "") -> int:
    """Pick a version for `caller_id` with probability proportional to its weight, the same one every time.

    The draw is SHA-256 of `salt + caller_id` (not Python's randomised `hash`) and versions are walked in sorted
    order, so the answer does not depend on the process or on dict order. Change `salt` to reshuffle callers
    (e.g. per experiment). Zero-weight versions are never chosen.
    """
    if not isinstance(caller_id, str):
        raise UsageError(f"caller_id must be a string, got {type(caller_id).__name__}")
    if not isinstance(salt, str):
        raise UsageError(f"salt must be a string, got {type(salt).__name__}")
    checked = sorted((_version(v), _weight(v, w)) for v, w in weights.items())
    total = sum(w for _, w in checked)
    if not checked or total <= 0.0:
        raise UsageError(
            "weights must include at least one version with a positive weight", hint=f"got {dict(weights)}"
        )
    target = _unit_float(salt + caller_id) * total
    cumulative = 0.0
    chosen = None
    for version, w in checked:
        if w <= 0.0:
            continue
        chosen = version  # the last positive weight also absorbs float rounding at the top end
        cumulative += w
        if target < cumulative:
            break
    assert chosen is not None
    return chosen
