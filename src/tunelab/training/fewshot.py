"""When a classification run takes the few-shot recipe, and the sentence pairs that recipe trains on."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.config import TrainConfig
from tunelab.errors import UsageError
from tunelab.tasks.spec import TaskSpec

HEAD = "logistic regression (scikit-learn) on the classifier's input features, written into its linear layer"


@dataclass(frozen=True)
class FewShotChoice:
    """Whether the few-shot recipe runs, and why (recorded in the manifest as `few_shot`)."""

    use: bool
    mode: str  # auto, always or never (train.few_shot)
    reason: str
    median_per_class: float
    threshold: float
    iterations: int
    mean_per_class: float = 0.0
    max_examples: int | None = None

    def record(self, pairs: int = 0, pooling: str | None = None) -> dict[str, Any]:
        """The manifest's `few_shot`; `pairs` trained on and the `pooling` used when the recipe ran."""
        out: dict[str, Any] = {"used": self.use, "mode": self.mode, "reason": self.reason,
                               "median_examples_per_class": self.median_per_class,
                               "mean_examples_per_class": self.mean_per_class, "threshold": self.threshold,
                               "max_examples": self.max_examples}
        if self.use:
            out.update({"pair_iterations": self.iterations, "pairs": pairs, "head": HEAD,
                        "pooling": pooling or "the architecture's own"})
        return out


@dataclass(frozen=True)
class PairSet:
    """Sentence pairs as indices into the training examples, with their target cosine (1 same class, 0 not)."""

    left: np.ndarray  # (n,) int
    right: np.ndarray  # (n,) int
    target: np.ndarray  # (n,) float32

    def __len__(self) -> int:
        return len(self.target)


def choose_few_shot(cfg: TrainConfig, spec: TaskSpec, train_labels: Sequence[str], *,
                    distributed: bool = False) -> FewShotChoice:
    """The few-shot decision for a run whose training examples carry `train_labels` (one label each).

    auto: single-label classification, full fine-tuning, not DP, one process, at least two classes, and both the
    median and the mean number of examples per class at most `cfg.few_shot_threshold`, and at most
    `cfg.few_shot_max_examples` in all (with many classes the loop has enough examples to beat the recipe). always:
    the same conditions except the size, each broken one a UsageError. never: the fine-tuning loop.

    The mean guards the median on imbalanced sets: 1,386 active-learning picks over Banking77's 77 intents had a
    median of 16 per class (mean 18) and took the recipe (55k pairs, 32 minutes, test accuracy 0.758) where the
    loop reached 0.884 on the same examples (`benchmarks/RESULTS.md`, active learning)."""
    counts = Counter(train_labels)
    median = float(statistics.median(counts.values())) if counts else 0.0
    mean = len(train_labels) / len(counts) if counts else 0.0
    threshold = float(cfg.few_shot_threshold or 0)

    def choice(use: bool, reason: str) -> FewShotChoice:
        return FewShotChoice(use, cfg.few_shot, reason, median, threshold, cfg.few_shot_iterations, round(mean, 2),
                             cfg.few_shot_max_examples)

    if cfg.few_shot == "never":
        return choice(False, "few-shot recipe turned off (--few-shot never)")
    blocker = _blocker(cfg, spec, len(counts), distributed)
    if blocker:
        if cfg.few_shot == "always":
            raise UsageError(f"--few-shot always cannot run here: {blocker}", hint="use --few-shot auto or never")
        return choice(False, f"fine-tuning loop: {blocker}")
    size = f"median {median:g} and mean {mean:.4g} training examples per class"
    if cfg.few_shot == "always":
        return choice(True, f"few-shot recipe asked for (--few-shot always); {size}")
    most = cfg.few_shot_max_examples
    if max(median, mean) > threshold:
        return choice(False, f"fine-tuning loop: {size}, not both <= few-shot threshold {threshold:g}")
    if most is not None and len(train_labels) > most:
        return choice(False, f"fine-tuning loop: {len(train_labels)} training examples > {most} "
                             f"(--few-shot-max-examples), though {size} <= {threshold:g}")
    return choice(True, f"{size}, both <= threshold {threshold:g}; {len(train_labels)} examples")


def _blocker(cfg: TrainConfig, spec: TaskSpec, classes: int, distributed: bool) -> str | None:
    if not spec.single_label or spec.per_token:
        return f"the few-shot recipe is for single-label classification, not {spec.name}"
    if (cfg.method or "full") != "full":  # None: not resolved yet (full unless DP, refused below)
        return f"the few-shot recipe fine-tunes the whole encoder; --method {cfg.method} was asked for"
    if cfg.privacy != "none":
        return "differentially private training runs the ordinary loop"
    if distributed:
        return "the few-shot recipe runs in one process (drop --nproc)"
    if classes < 2:
        return f"the training data has {classes} class(es); a head needs two"
    return None


def build_pairs(targets: Sequence[int], iterations: int, seed: int) -> PairSet:
    """SetFit's pair generation: per round, every example gets a random same-class partner (itself when its class
    has one example) and a random other-class partner; all pairs shuffled."""
    rng = np.random.default_rng(seed)
    y = np.asarray(targets, dtype=np.int64)
    by_class = {int(c): np.flatnonzero(y == c) for c in np.unique(y)}
    others = {c: np.flatnonzero(y != c) for c in by_class}
    left, right, target = [], [], []
    for _ in range(iterations):
        for i, c in enumerate(y.tolist()):
            left += [i, i]
            right += [int(rng.choice(by_class[c])), int(rng.choice(others[c]))]
            target += [1.0, 0.0]
    order = rng.permutation(len(target))
    return PairSet(np.asarray(left)[order], np.asarray(right)[order], np.asarray(target, dtype=np.float32)[order])
