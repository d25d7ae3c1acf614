"""Fine-tune the encoder as both towers on next-item prediction: in-batch sampled softmax, the loop in one `train()`.

Each step: the batch's histories are encoded without gradients (the user tower), the target items with them (the
item tower); logits are user . item / temperature against every target in the batch, with repeats of the same item
masked out as false negatives. Checkpoints (model, optimiser, scheduler, RNG, loop state) come from
`tunelab.training.checkpoint`, so `resume=True` continues exactly where a run stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.apps.recommender.towers import NextItemExamples, pooled, recency_weights
from tunelab.errors import TrainingError
from tunelab.training.checkpoint import LoopState, list_checkpoints, load_checkpoint, save_checkpoint
from tunelab.training.precision import Precision
from tunelab.training.progress import Progress
from tunelab.training.schedule import build_optimizer, build_scheduler


@dataclass(frozen=True)
class TowerConfig:
    """Hyper-parameters of the two-tower fine-tuning (saved in the build's manifest)."""

    epochs: int = 1
    batch_size: int = 64
    lr: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    temperature: float = 0.05
    history: int = 5  # previous positives the user tower reads
    decay: float = 0.8  # recency weight ratio between consecutive history items
    max_steps: int | None = None
    checkpoint_every: int = 200
    seed: int = 42


def train(model: Any, tokenizer: Any, texts: tuple[str, ...], examples: NextItemExamples, cfg: TowerConfig,
          run_dir: Path, *, precision: Precision, resume: bool = False, show_progress: bool = True) -> LoopState:
    """Fine-tune `model` in place on `examples`; return the final loop state (its history holds the losses)."""
    import torch


    if len(examples) == 0:
        raise TrainingError("no training pairs: every user needs at least two positive interactions")
    per_epoch = -(-len(examples) // cfg.batch_size)
    total = min(cfg.max_steps or 10**12, per_epoch * cfg.epochs)
    optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay)
    scheduler = build_scheduler(optimizer, int(cfg.warmup_ratio * total), total, 1.0)
    state = LoopState(total_steps=total)
    torch.manual_seed(cfg.seed)  # dropout; a resumed run gets its RNG back from the checkpoint
    if resume:
        checkpoints = list_checkpoints(run_dir)
        if not checkpoints:
            raise TrainingError(f"{run_dir} has no checkpoint to resume from")
        state, _ = load_checkpoint(checkpoints[-1], model, optimizer, scheduler)
    progress = Progress(total, state.global_step, enabled=show_progress)
    model.train()
    while not (state.finished or state.global_step >= total):
        order = np.random.default_rng(cfg.seed + state.epoch).permutation(len(examples))
        batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        for batch in batches[state.batch_in_epoch:]:
            started = time.perf_counter()
            loss = train_step(model, tokenizer, texts, examples, batch, cfg, precision, optimizer, scheduler)
            state.train_seconds += time.perf_counter() - started
            state.global_step += 1
            state.batch_in_epoch += 1
            state.samples_seen += len(batch)
            lr = scheduler.get_last_lr()[0]
            progress.update(state.global_step, state.epoch, cfg.epochs, loss, lr, len(batch))
            state.history.append({"step": state.global_step, "epoch": state.epoch, "loss": round(loss, 6), "lr": lr})
            if state.global_step >= total:
                break
            if state.global_step % cfg.checkpoint_every == 0:
                save_checkpoint(run_dir, model, optimizer, scheduler, state)
        if state.batch_in_epoch >= len(batches):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        state.finished = state.global_step >= total
        save_checkpoint(run_dir, model, optimizer, scheduler, state)
    progress.close()
    model.eval()
    return state


def train_step(model: Any, tokenizer: Any, texts: tuple[str, ...], examples: NextItemExamples, batch: np.ndarray,
               cfg: TowerConfig, precision: Precision, optimizer: Any, scheduler: Any) -> float:
    """One optimiser step of in-batch sampled softmax; returns the loss."""
    import torch

    histories, targets = examples.histories[batch], examples.targets[batch]
    with precision.autocast():
        users = user_batch(model, tokenizer, texts, histories, cfg.decay, precision.device)
        items = pooled(model, tokenizer, [texts[i] for i in targets], precision.device)
    logits = users @ items.T / cfg.temperature
    same = torch.from_numpy(targets[:, None] == targets[None, :]).to(logits.device)
    logits = logits.masked_fill(same & ~torch.eye(len(targets), dtype=torch.bool, device=logits.device), -1e4)
    loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(targets), device=logits.device))
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def user_batch(model: Any, tokenizer: Any, texts: tuple[str, ...], histories: np.ndarray, decay: float,
               device: str) -> Any:
    """User-tower vectors of a batch of padded histories, encoded without gradients."""
    import torch

    unique, inverse = np.unique(histories[histories >= 0], return_inverse=True)
    with torch.no_grad():
        vectors = pooled(model, tokenizer, [texts[i] for i in unique], device)
    slots = np.full(histories.shape, -1)
    slots[histories >= 0] = inverse
    weights = torch.from_numpy(recency_weights(histories.shape[1], decay) * (slots >= 0)).to(device)
    gathered = vectors[torch.from_numpy(np.maximum(slots, 0)).to(device)]  # (batch, width, dim)
    summed = (weights.unsqueeze(-1) * gathered).sum(1)
    return torch.nn.functional.normalize(summed, dim=-1)
