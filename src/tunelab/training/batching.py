"""Length-grouped batches: similar lengths share a batch so dynamic padding wastes little, order still random."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def plan_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int,
                 group: int = 50, max_tokens: int | None = None) -> list[list[int]]:
    """Batches of example indices for one epoch, a pure function of its arguments.

    Shuffle, cut into mega-batches of `group` batches (fewer on small data: see `mega_batch_size`), sort each by
    length (longest first), cut into batches, then shuffle the order of the batches. With `max_tokens`, a batch
    holds as many examples as fit in that many padded tokens (short texts travel in big batches, long ones in
    small), instead of `batch_size` examples."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    mega = mega_batch_size(len(lengths), batch_size, group)
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega].tolist(), key=lambda i: -lengths[i])
        if max_tokens:
            batches.extend(_cut_by_tokens(chunk, lengths, max_tokens))
        else:
            batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffled = rng.permutation(len(batches))
    return [batches[i] for i in shuffled]


def mega_batch_size(n: int, batch_size: int, group: int = 50) -> int:
    """Examples sorted together: `group` batches, but at most a quarter of the data set (at least one batch).

    A mega-batch holding most of a small data set sorts it almost globally, so every batch holds texts of one
    length only, and on CoNLL-2003 one length is often one kind of text (datelines, score lines): on 2,000
    sentences for 2 epochs, mega-batches of 50 x 32 (80% of the data) cost 1.5 test F1 points over four seeds
    (0.763 -> 0.779; benchmarks/RESULTS.md). The Hugging Face Trainer caps its mega-batches the same way."""
    return batch_size * max(1, min(group, n // (4 * batch_size)))


def _cut_by_tokens(chunk: list[int], lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Cut indices sorted longest first into batches of at most `max_tokens` padded tokens (at least one each)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in chunk:
        width = lengths[current[0]] if current else lengths[i]  # sorted: the first is the longest
        if current and (len(current) + 1) * width > max_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def count_steps(lengths: Sequence[int], batch_size: int, seed: int, epochs: int,
                max_tokens: int | None = None) -> int:
    """Optimiser steps over `epochs` epochs (with a token budget the count varies a little per epoch)."""
    if not max_tokens:
        return epochs * ((len(lengths) + batch_size - 1) // batch_size)
    return sum(len(plan_batches(lengths, batch_size, seed, e, max_tokens=max_tokens)) for e in range(epochs))


def padding_efficiency(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Real tokens / padded tokens over an epoch (1.0 = no padding)."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    return real / padded if padded else 1.0


def activation_bytes(rows: int, width: int, hidden: int, heads: int, layers: int) -> float:
    """Activations one training step of a BERT-style encoder keeps for backward, in bytes.

    Per layer s·b·h·(34 + 5·a·s/h) at 16 bits (Korthikanti et al. 2022), with the attention term doubled: CPU
    autocast keeps eager attention's softmax and dropout outputs in fp32. Measured on multilingual-e5-small
    (12 x 384) at 32 x 488 tokens: 9 GB above the model and optimiser; this gives 13 GB (it errs high)."""
    return float(layers * rows * width * hidden * (34 + 10 * heads * width / hidden))


def micro_batches(batch: Sequence[int], widths: Sequence[int], dims: tuple[int, int, int] | None,
                  budget_mb: int) -> list[list[int]]:
    """`batch` (its examples' token counts in `widths`, in the same order) cut into the fewest equal micro-batches
    whose estimated activations fit `budget_mb`; one piece when it fits, when `budget_mb` is 0 or when the model's
    `dims` (hidden, heads, layers) are unknown. Pieces keep the batch's order, so each holds neighbours in length
    and pads to its own longest."""
    items = list(batch)
    if not items or not budget_mb or dims is None:
        return [items]
    need = activation_bytes(len(items), max(widths), *dims) / (budget_mb * 2**20)
    pieces = min(len(items), max(1, int(-(-need // 1))))
    size = -(-len(items) // pieces)
    return [items[i : i + size] for i in range(0, len(items), size)]
