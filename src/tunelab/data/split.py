"""Carve a seeded, optionally label-stratified share of examples out of a split."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from tunelab.types import Example, TextExample

MIN_CLASS_TO_SPLIT = 3


def stratum_of(example: Example, stratify: bool) -> str:
    """The group an example is drawn within: its (first) label when stratifying, else one group."""
    if stratify and isinstance(example, TextExample) and example.labels:
        return example.labels[0]
    return ""


def group_indexes(examples: Sequence[Example], stratify: bool) -> dict[str, list[int]]:
    """Example positions per stratum, strata in sorted order."""
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(stratum_of(example, stratify), []).append(i)
    return dict(sorted(groups.items()))


def allocate(sizes: dict[str, int], fraction: float, rng: random.Random) -> dict[str, int]:
    """How many to carve per group: largest-remainder shares of the total, each group keeping >= 1.

    Groups smaller than MIN_CLASS_TO_SPLIT give nothing."""
    eligible = {k: n for k, n in sizes.items() if n >= MIN_CLASS_TO_SPLIT}
    total = sum(eligible.values())
    if fraction <= 0 or total == 0:
        return {k: 0 for k in sizes}
    target = max(1, round(total * fraction))
    exact = {k: n * target / total for k, n in eligible.items()}
    counts = {k: min(math.floor(v), eligible[k] - 1) for k, v in exact.items()}
    order = list(eligible)
    rng.shuffle(order)
    order.sort(key=lambda k: exact[k] - math.floor(exact[k]), reverse=True)
    for key in order:
        if sum(counts.values()) >= target:
            break
        if counts[key] < eligible[key] - 1:
            counts[key] += 1
    return {k: counts.get(k, 0) for k in sizes}


def split_examples(examples: Sequence[Example], fraction: float, seed: int,
                   stratify: bool) -> tuple[list[Example], list[Example]]:
    """(kept, carved): about `fraction` of the examples carved out, deterministic for `seed`.

    Stratified by (first) label when `stratify`; every class keeps at least one example, and classes
    with fewer than 3 examples stay entirely in `kept`. Both lists keep the input order."""
    rng = random.Random(seed)
    groups = group_indexes(examples, stratify)
    counts = allocate({k: len(v) for k, v in groups.items()}, fraction, rng)
    carved_at: set[int] = set()
    for key, positions in groups.items():
        shuffled = list(positions)
        rng.shuffle(shuffled)
        carved_at.update(shuffled[: counts[key]])
    kept = [e for i, e in enumerate(examples) if i not in carved_at]
    carved = [e for i, e in enumerate(examples) if i in carved_at]
    return kept, carved
