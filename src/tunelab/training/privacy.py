"""Differentially private fine-tuning (DP-SGD) with Opacus: per-example gradient clipping, Gaussian noise, and a
Rényi-DP accountant that reports the ε actually spent.

What the guarantee needs, and what this module does for it:
- Poisson sampling: each step takes every training example with probability q = batch_size / n (so batch sizes
  vary; length grouping, which would make batches depend on other examples, is off), for exactly the planned
  number of steps (epochs x n / batch_size). The noise multiplier is chosen for the target ε at that plan.
- A Poisson batch too large for memory runs as pieces (Opacus's virtual steps, as its BatchMemoryManager takes
  them): each piece's per-example gradients are clipped and added up, and the sum is noised once per batch, so
  the accounting is the batch's, whatever the pieces.
- Per-example gradients are clipped to `dp_max_grad_norm` (Opacus's GradSampleModule and DPOptimizer); the word
  and position embeddings are frozen (they would need per-example gradients of the whole vocabulary, and the
  position-id buffer built with batch size 1 gives wrongly shaped ones: opacus issue 841).
- What the defaults train (training/defaults.py, when --method, --batch-size and --lr are left unset): the head
  alone on the encoder's mean-pooled sentence embedding, in large Poisson batches at a large rate; the values
  taken and which came from DP's defaults are recorded with the ε. Explicit options are kept as given.
- Early stopping and best-checkpoint selection on dev are off (the last step's weights are the model); the
  tasks are those with one loss term per example (classification, multi-label); fp32 only.
The accountant's ε at the steps taken goes in the manifest and the model card."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tunelab.config import TrainConfig
from tunelab.errors import UsageError

MECHANISM = "DP-SGD (Opacus: per-example clipping, Gaussian noise, Poisson sampling), RDP accountant"


@dataclass(frozen=True)
class PrivacyPlan:
    """The noise that reaches the target ε at the planned steps; `spent` fills in the ε of the steps taken."""

    target_epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    max_grad_norm: float
    planned_steps: int
    method: str = ""
    expected_batch_size: int = 0
    lr: float = 0.0
    defaults: tuple[str, ...] = ()
    """The settings taken from DP's defaults rather than given (method, batch_size, lr, dropout)."""

    def epsilon(self, steps: int) -> float:
        """ε spent after `steps` noisy steps (RDP accountant)."""
        if steps <= 0:
            return 0.0
        from opacus.accountants import RDPAccountant

        accountant = RDPAccountant()
        accountant.history = [(self.noise_multiplier, self.sample_rate, steps)]
        return float(accountant.get_epsilon(self.delta))

    def record(self, steps: int) -> dict[str, Any]:
        """The manifest's `privacy` entry."""
        return {"mechanism": MECHANISM, "epsilon": round(self.epsilon(steps), 4), "steps": steps,
                **asdict(self), "defaults": list(self.defaults)}


def check_private(cfg: TrainConfig, per_token: bool, resume: bool) -> None:
    """Refuse what would break or misstate the guarantee (and a missing Opacus)."""
    if cfg.privacy != "dp":
        return
    from tunelab.extras import check

    check("opacus", "--privacy dp")
    problems = []
    if cfg.epsilon is None or not (0 < cfg.epsilon <= 100):
        problems.append("--epsilon must be given, in (0, 100] (e.g. --epsilon 8)")
    if per_token:
        problems.append("DP training is for tasks with one loss term per example (classification, multi-label); "
                        "NER's per-token loss is not supported")
    if cfg.max_tokens:
        problems.append("--max-tokens batches depend on other examples' lengths; DP needs Poisson sampling")
    if resume:
        problems.append("a DP run cannot be resumed (its noise and sampling would restart); train it again")
    if cfg.precision == "bf16":
        problems.append("DP training runs in fp32 (per-example gradients); leave --precision at auto or fp32")
    if cfg.frozen_layers:
        problems.append("--frozen-layers caches per-example outputs that DP's sampling does not account for; "
                        "leave it unset (--method probe or lora freeze the encoder under DP)")
    if cfg.ema_decay:
        problems.append("--ema-decay keeps an average of the weights chosen on dev, while a DP run keeps its last "
                        "weights; leave it unset or 0")
    if problems:
        raise UsageError("cannot train with --privacy dp: " + "; ".join(problems))


def plan(cfg: TrainConfig, n_train: int, defaults: tuple[str, ...] = ()) -> PrivacyPlan:
    """The plan for `cfg` (method, epochs, batch size, lr, ε, δ resolved) on `n_train` examples; `defaults`: the
    settings DP's defaults chose (recorded)."""
    from opacus.accountants.utils import get_noise_multiplier

    assert cfg.epochs and cfg.batch_size and cfg.epsilon
    rate = min(1.0, cfg.batch_size / max(1, n_train))
    steps = cfg.epochs * math.ceil(n_train / cfg.batch_size)
    if cfg.max_steps:
        steps = min(steps, cfg.max_steps)
    delta = cfg.delta if cfg.delta is not None else min(1e-5, 1.0 / (10 * max(1, n_train)))
    sigma = get_noise_multiplier(target_epsilon=cfg.epsilon, target_delta=delta, sample_rate=rate, steps=steps,
                                 accountant="rdp", epsilon_tolerance=0.01)
    return PrivacyPlan(cfg.epsilon, delta, float(sigma), rate, cfg.dp_max_grad_norm, steps,
                       cfg.method or "", cfg.batch_size, cfg.lr or 0.0, defaults)


def poisson_batches(n_train: int, lengths: list[int], sample_rate: float, seed: int, epoch: int,
                    steps: int) -> list[list[int]]:
    """`steps` batches, each taking every example independently with probability `sample_rate` (sorted by length
    inside the batch: only the padding changes); a batch may be empty."""
    rng = np.random.default_rng([seed, epoch, 7919])
    batches = []
    for _ in range(steps):
        taken = np.flatnonzero(rng.random(n_train) < sample_rate).tolist()
        batches.append(sorted(taken, key=lambda i: -lengths[i]))
    return batches


def prepare_private(model: Any, method: str) -> None:
    """Embeddings frozen; a head trained alone (`probe`) reads the mean-pooled sentence embedding the encoder was
    trained to give (the [CLS] pooler stays frozen and unused; the saved config records the pooling)."""
    from tunelab.models.pooling import can_mean_pool, use_mean_pooling

    freeze_embeddings(model)
    if method == "probe" and can_mean_pool(model):
        use_mean_pooling(model)


# Opacus holds each example's gradient, its clipped copy and the sum's share: about 3 fp32 copies per weight
GRADIENT_COPIES = 3


def physical_batches(batch: list[int], widths: list[int], dims: tuple[int, int, int] | None, budget_mb: int,
                     trainable: int) -> list[list[int]]:
    """`batch` cut into pieces whose activations (`micro_batches`) and per-example gradients (`trainable` weights)
    fit `budget_mb`; one piece when it fits or when `budget_mb` is 0."""
    from tunelab.training.batching import micro_batches

    if not budget_mb:
        return [list(batch)]
    cap = max(1, budget_mb * 2**20 // (4 * GRADIENT_COPIES * max(1, trainable)))
    return [piece[i : i + cap] for piece in micro_batches(batch, widths, dims, budget_mb)
            for i in range(0, len(piece), cap)]


def skip_step(optimizer: Any) -> None:
    """After a piece that is not its batch's last: clip and add up its per-example gradients, without noise or an
    update (the DP optimizer keeps the sum for the batch's step)."""
    optimizer.signal_skip_step(do_skip=True)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def freeze_embeddings(model: Any) -> None:
    """No gradients for the word, position and token-type embeddings (see the module docstring)."""
    embeddings = model.get_input_embeddings()
    for module in model.modules():
        if module is embeddings or type(module).__name__.endswith("Embeddings"):
            for param in module.parameters():
                param.requires_grad_(False)


def make_private(model: Any, optimizer: Any, privacy: PrivacyPlan, batch_size: int) -> tuple[Any, Any]:
    """(the model to run forward passes through, the optimizer to step): Opacus's per-example gradient module and
    DP optimizer around them."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    forward = GradSampleModule(model, loss_reduction="mean")
    dp_optimizer = DPOptimizer(optimizer, noise_multiplier=privacy.noise_multiplier,
                               max_grad_norm=privacy.max_grad_norm, expected_batch_size=batch_size,
                               loss_reduction="mean")
    return forward, dp_optimizer
