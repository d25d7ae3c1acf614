"""Champion against challenger on the same examples: paired tests (McNemar, paired bootstrap) and per-class F1.

Pure functions over answer sets: the caller turns each prediction into the set of what it says (one label for
single-label classification, labels for multi-label, (start, end, type) entities for NER), so one code path
serves every task; an item's class is the label itself, or an entity's type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LabelSets = Sequence[frozenset[Any]]


@dataclass(frozen=True)
class McNemar:
    """McNemar's paired test on the discordant pairs of one example set.

    `b`: the champion right and the challenger wrong; `c`: the challenger right and the champion wrong.
    `statistic` is min(b, c), the binomial count the exact test is computed on."""

    b: int
    c: int
    statistic: float
    p_value: float
    method: str  # "mcnemar-exact" or "mcnemar-midp"


@dataclass(frozen=True)
class Bootstrap:
    """A paired bootstrap of a metric difference (challenger - champion)."""

    difference: float
    low: float  # 95% interval of the difference
    high: float
    p_value: float  # one-sided: the share of resamples where the challenger is not better
    samples: int


def mcnemar(b: int, c: int, *, mid_p: bool = True) -> McNemar:
    """Two-sided exact McNemar test (binomial on b + c discordant pairs at 1/2); with `mid_p`, the mid-p variant
    (exact p minus the probability of the observed count), less conservative at small counts (Fagerland 2013)."""
    from scipy.stats import binom

    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n, k = b + c, min(b, c)
    if n == 0:
        return McNemar(b, c, 0.0, 1.0, "mcnemar-midp" if mid_p else "mcnemar-exact")
    exact = min(1.0, 2.0 * float(binom.cdf(k, n, 0.5)))
    if not mid_p:
        return McNemar(b, c, float(k), exact, "mcnemar-exact")
    midp = 2.0 * float(binom.cdf(k, n, 0.5)) - float(binom.pmf(k, n, 0.5))  # 2 * (P(X < k) + P(X = k) / 2)
    return McNemar(b, c, float(k), min(1.0, midp), "mcnemar-midp")


def discordant(gold: LabelSets, champion: LabelSets, challenger: LabelSets) -> tuple[int, int]:
    """(b, c): examples only the champion got right, and only the challenger got right (exact set match)."""
    b = c = 0
    for g, old, new in zip(gold, champion, challenger, strict=True):
        old_ok, new_ok = old == g, new == g
        b += old_ok and not new_ok
        c += new_ok and not old_ok
    return b, c


def accuracy(gold: LabelSets, predicted: LabelSets) -> float:
    """Share of examples whose predicted label set equals the gold one."""
    return sum(p == g for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0


def class_of(item: Any) -> str:
    """The class an answer item counts for: a label, or the type of a (start, end, type) entity."""
    return item if isinstance(item, str) else str(item[2])


def per_class_f1(gold: LabelSets, predicted: LabelSets, labels: Sequence[str]) -> dict[str, float]:
    """F1 per class (0-1) over the items of gold and predicted sets (labels, or entities of that type);
    zero_division=0."""
    tp = dict.fromkeys(labels, 0)
    fp, fn = dict(tp), dict(tp)
    for g, p in zip(gold, predicted, strict=True):
        for item in g & p:
            tp[class_of(item)] = tp.get(class_of(item), 0) + 1
        for item in p - g:
            fp[class_of(item)] = fp.get(class_of(item), 0) + 1
        for item in g - p:
            fn[class_of(item)] = fn.get(class_of(item), 0) + 1
    return {label: f1_from_counts(tp[label], fp[label], fn[label]) for label in labels}


def item_counts(gold: LabelSets, predicted: LabelSets) -> np.ndarray:
    """Per example: (tp, fp, fn) of its items (for micro-F1 and the paired bootstrap)."""
    return np.array([[len(g & p), len(p - g), len(g - p)] for g, p in zip(gold, predicted, strict=True)],
                    dtype=float).reshape(-1, 3)


def micro_f1(gold: LabelSets, predicted: LabelSets) -> float:
    return f1_from_counts(*item_counts(gold, predicted).sum(0))


def class_drops(champion: dict[str, float], challenger: dict[str, float], gold: LabelSets) -> dict[str, float]:
    """Per class present in the gold sets: challenger F1 - champion F1, in points (negative is a drop)."""
    present = {class_of(item) for g in gold for item in g}
    return {label: round(100 * (challenger.get(label, 0.0) - champion[label]), 3)
            for label in champion if label in present}


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def bootstrap_f1(champion: np.ndarray, challenger: np.ndarray, *, samples: int = 2000, seed: int = 0) -> Bootstrap:
    """Paired bootstrap of micro-F1 (NER entities): `champion`/`challenger` are per-example (tp, fp, fn) rows of the
    same examples; examples are resampled together, so both models are scored on each resample."""
    old, new = np.asarray(champion, dtype=float), np.asarray(challenger, dtype=float)
    if old.shape != new.shape or old.ndim != 2 or old.shape[1] != 3:
        raise ValueError("expected two (n, 3) arrays of per-example tp, fp, fn")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(old), size=(samples, len(old)))
    diffs = np.array([f1_from_counts(*new[i].sum(0)) - f1_from_counts(*old[i].sum(0)) for i in index])
    observed = f1_from_counts(*new.sum(0)) - f1_from_counts(*old.sum(0))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return Bootstrap(float(observed), float(low), float(high), float(np.mean(diffs <= 0)), samples)
