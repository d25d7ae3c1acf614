"""Dropout for CPU training whose random mask costs a quarter of torch's.

On a CPU, `torch.nn.functional.dropout` draws its mask with `bernoulli_`, one uniform float per element from a
serial generator (a known cost: pytorch/pytorch#138199). In a training step of the bundled MiniLM on Banking77
(batch 32, bf16, 2 threads) dropout took 15% of the step, more than layer norm, GELU and softmax together.

Here the mask comes from integer draws instead: `random_()` on int32 gives 31 uniform bits per element, which are
two independent 15-bit numbers (the low and high halves, the sign bit dropped); an element is dropped when its
number is below round(p * 32768). That is dropout with p rounded to a multiple of 1/32768 (0.1 becomes 0.100006),
and the kept elements are scaled by 1 / (1 - that p), so the expected output equals the input as with torch's. The
draws come from torch's default generator: a seeded run repeats itself. Forward and backward are mask multiplies.

`fast_dropout(model)` switches every `torch.nn.Dropout` module of a model to it for the duration of a `with`
block (training on a CPU); on exit the modules are plain `nn.Dropout` again, so export and serving never see it.
Dropout called as a function inside a model's code (attention probabilities in eager attention) is not changed:
routing BERT-family attention through a copy of transformers' eager attention with this dropout (and its mask
function) was measured at 1.00-1.03x on top, not worth owning a copy of that code.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

_LEVELS = 1 << 15


class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:
        keep = keep_mask(x.shape, p)
        scale = 1.0 / (1.0 - _dropped(p) / _LEVELS)
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return (x * keep).mul_(scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (keep,) = ctx.saved_tensors
        return (grad * keep).mul_(ctx.scale), None


def keep_mask(shape: torch.Size | tuple[int, ...], p: float) -> torch.Tensor:
    """A bool tensor of `shape`, each element False with probability round(p * 32768) / 32768."""
    n = math.prod(shape)
    bits = torch.empty((n + 1) // 2, dtype=torch.int32).random_()  # 31 uniform bits each
    halves = bits.view(torch.int16)[:n] & (_LEVELS - 1)  # two 15-bit numbers per draw
    return (halves >= _dropped(p)).view(shape)


def _dropped(p: float) -> int:
    """How many of the 32768 values of a 15-bit number drop an element."""
    return round(p * _LEVELS)


class FastDropout(torch.nn.Dropout):
    """`nn.Dropout` with the integer-drawn mask when training on a CPU (torch's own everywhere else)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or input.device.type != "cpu" or self.inplace:
            return super().forward(input)
        return _MaskedScale.apply(input, self.p)


@contextlib.contextmanager
def fast_dropout(model: Any) -> Iterator[int]:
    """Every plain `nn.Dropout` in `model` runs as `FastDropout` inside the block; yields how many."""
    switched = [m for m in model.modules() if type(m) is torch.nn.Dropout]
    for module in switched:
        module.__class__ = FastDropout
    try:
        yield len(switched)
    finally:
        for module in switched:
            module.__class__ = torch.nn.Dropout


__all__ = ["FastDropout", "fast_dropout", "keep_mask"]
