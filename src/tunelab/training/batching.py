"""Length-grouped batches: similar lengths share a batch so dynamic padding wastes little, order still random."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def plan_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int,
                 group: int = 50) -> list[list[int]]:
    """Batches of example indices for one epoch, a pure function of (lengths, batch_size, seed, epoch).

    Shuffle, cut into mega-batches of `group` batches, sort each by length (longest first),
    cut into batches, then shuffle the order of the batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    mega = batch_size * group
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega].tolist(), key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffled = rng.permutation(len(batches))
    return [batches[i] for i in shuffled]


def plan_eval_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Inference batches sorted by length (results are put back in input order by the caller)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padding_efficiency(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Real tokens / padded tokens over an epoch (1.0 = no padding)."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    return real / padded if padded else 1.0
