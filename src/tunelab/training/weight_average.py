"""An exponential moving average of the weights being trained, the model that dev evaluations score and keep.

While the learning rate is high the trained weights hop around a good region; their average over the last steps sits
nearer its middle. On Banking77 (MiniLM, 6 epochs at 2e-4) the average with decay 0.99 scored 0.916 test accuracy
after the first epoch against 0.873 for the trained weights, and was past the Hugging Face Trainer's final 0.927
after the second (the trained weights after the fourth); CoNLL-2003 F1 after epoch 1: 0.870 against 0.867. Once the
schedule has decayed the trained weights catch up (CoNLL-2003 after the last epoch: dev 0.9332 averaged, 0.9341
trained), so the loop's last evaluation scores both and keeps the better (`training.loop._evaluate`);
benchmarks/RESULTS.md has the runs.

The average starts as the first weights and is a plain running mean over its first 1 / (1 - decay) steps' worth of
updates (so it is not pulled towards the pretrained start), an exponential one after. Only parameters that train are
averaged; it is kept in the parameters' own dtype (fp32) and travels in resumable checkpoints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

PREFIX = "weight_average/"
# The average takes the weights every EVERY optimiser steps (with the decay raised to that power, the same window):
# folding 7M fp32 weights in after every step cost 9% of MiniLM's Banking77 training throughput on 2 cores (338.9
# against 371.9 samples/s in one benchmark run), a quarter of that every fourth step.
EVERY = 4


class WeightAverage:
    """The running average of `model`'s trainable parameters (in `model.parameters()` order), over the weights
    after every `every`-th optimiser step; `decay` is per optimiser step."""

    def __init__(self, model: Any, decay: float, every: int = EVERY) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay!r}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every!r}")
        self.every, self.per_update = every, decay**every
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.average = [p.detach().clone() for p in self.params]
        self.steps = 0

    @property
    def updates(self) -> int:
        return self.steps // self.every

    def weight(self) -> float:
        """The share of the current weights in the next update: 1 / (n + 1) for the first updates (a running mean
        with the starting weights), then 1 - decay ** every."""
        return max(1.0 - self.per_update, 1.0 / (self.updates + 1))

    def step(self) -> None:
        """Count an optimiser step; every `every`-th one, fold the current weights in."""
        import torch

        self.steps += 1
        if self.steps % self.every:
            return
        with torch.no_grad():
            torch._foreach_lerp_(self.average, [p.detach() for p in self.params], self.weight())

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the duration; the trained ones put back after, bit for bit."""
        import torch

        with torch.no_grad():
            trained = [p.detach().clone() for p in self.params]
            torch._foreach_copy_(self.params, self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.params, trained)

    def tensors(self) -> dict[str, Any]:
        """For a checkpoint (safetensors, written before the next update): one entry per averaged parameter, by its
        name; the average's own tensors, not copies."""
        return {f"{PREFIX}{name}": t.detach().contiguous() for name, t in zip(self.names, self.average)}

    def restore(self, tensors: dict[str, Any], steps: int) -> None:
        """Back to a checkpoint's average after `steps` optimiser steps (`tensors` may hold other entries too)."""
        import torch

        mine = {k[len(PREFIX):]: v for k, v in tensors.items() if k.startswith(PREFIX)}
        wrong = sorted(set(mine) ^ set(self.names)) + [n for n, t in zip(self.names, self.average)
                                                        if n in mine and mine[n].shape != t.shape]
        if wrong:
            from tunelab.errors import TrainingError

            what = "holds no weight average" if not mine else \
                f"has a weight average that does not fit this model ({', '.join(wrong[:3])})"
            raise TrainingError(f"the checkpoint {what}",
                                hint="resume with the model and settings the run started with")
        with torch.no_grad():
            torch._foreach_copy_(self.average, [mine[name] for name in self.names])
        self.steps = steps
