"""Learning-rate schedule: linear warm-up, then polynomial decay lr_t = lr_0 * (1 - t/T)^power."""

from __future__ import annotations

from typing import Any


def lr_factor(step: int, warmup_steps: int, total_steps: int, power: float) -> float:
    """Multiplier of the peak learning rate at optimiser step `step` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return float((1.0 - progress) ** power)


def build_scheduler(optimizer: Any, warmup_steps: int, total_steps: int, power: float) -> Any:
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup_steps, total_steps, power)
    )


def build_optimizer(model: Any, lr: float, weight_decay: float) -> Any:
    """AdamW without weight decay on biases and normalisation weights; fused kernels where available."""
    import torch

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=lr)
