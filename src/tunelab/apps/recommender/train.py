"""Fine-tune the encoder as both towers on next-item prediction: in-batch sampled softmax, the loop in one `train()`.

Each step: the target items are encoded with gradients (the item tower); a user is the recency-weighted mean of
their history items' vectors, read from a table of every history item encoded without gradients and re-encoded
every `refresh_every` steps (so a step encodes batch-size texts, not batch x history); logits are user . item /
temperature against every target in the batch, with repeats of the same item masked out as false negatives.
Checkpoints (model, optimiser, scheduler, RNG, loop state, the history table) come from
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
    refresh_every: int = 250  # steps between re-encodings of the history items' vectors (the user tower's input)
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
    extra: dict[str, Any] = {}
    if resume:
        checkpoints = list_checkpoints(run_dir)
        if not checkpoints:
            raise TrainingError(f"{run_dir} has no checkpoint to resume from")
        state, extra = load_checkpoint(checkpoints[-1], model, optimizer, scheduler)
    table = HistoryTable.restore(extra)
    progress = Progress(total, state.global_step, enabled=show_progress)
    model.train()
    while not (state.finished or state.global_step >= total):
        order = np.random.default_rng(cfg.seed + state.epoch).permutation(len(examples))
        batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        for batch in batches[state.batch_in_epoch:]:
            started = time.perf_counter()
            if table is None or state.global_step - table.step >= cfg.refresh_every:
                table = HistoryTable.encode(model, tokenizer, texts, examples, state.global_step, precision)
            loss = train_step(model, tokenizer, texts, examples, batch, cfg, precision, optimizer, scheduler, table)
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
                save_checkpoint(run_dir, model, optimizer, scheduler, state, _extra(table))
        if state.batch_in_epoch >= len(batches):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        state.finished = state.global_step >= total
        save_checkpoint(run_dir, model, optimizer, scheduler, state, _extra(table))
    progress.close()
    model.eval()
    return state


def train_step(model: Any, tokenizer: Any, texts: tuple[str, ...], examples: NextItemExamples, batch: np.ndarray,
               cfg: TowerConfig, precision: Precision, optimizer: Any, scheduler: Any, table: HistoryTable) -> float:
    """One optimiser step of in-batch sampled softmax; returns the loss."""
    import torch

    histories, targets = examples.histories[batch], examples.targets[batch]
    users = table.users(histories, cfg.decay, precision.device)
    with precision.autocast():
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


@dataclass(frozen=True)
class HistoryTable:
    """Vectors of every item that appears in a history (rows of `items`, sorted), encoded without gradients by the
    model as it was at `step`."""

    items: np.ndarray  # (n,) int64, sorted
    vectors: Any  # torch (n, dim)
    step: int

    @classmethod
    def encode(cls, model: Any, tokenizer: Any, texts: tuple[str, ...], examples: NextItemExamples, step: int,
               precision: Precision, batch_size: int = 128) -> HistoryTable:
        import torch

        items = np.unique(examples.histories[examples.histories >= 0])
        order = items[np.argsort([len(texts[i]) for i in items], kind="stable")]  # batches of like length: less padding
        model.eval()  # no dropout: the table is what the user tower reads until the next refresh
        with torch.no_grad(), precision.autocast():
            parts = [pooled(model, tokenizer, [texts[i] for i in order[start:start + batch_size]], precision.device)
                     for start in range(0, len(order), batch_size)]
        model.train()
        if not parts:
            return cls(items, torch.zeros(0, 1), step)
        vectors = torch.empty_like(torch.cat(parts))
        vectors[torch.from_numpy(np.searchsorted(items, order))] = torch.cat(parts)
        return cls(items, vectors, step)

    @classmethod
    def restore(cls, extra: dict[str, Any]) -> HistoryTable | None:
        """The table a checkpoint saved (None for checkpoints without one: it is encoded again)."""
        tensors = extra.get("tensors") or {}
        if "history_vectors" not in tensors:
            return None
        return cls(tensors["history_items"].numpy(), tensors["history_vectors"], int(extra["history_step"]))

    def users(self, histories: np.ndarray, decay: float, device: str) -> Any:
        """User-tower vectors of a batch of padded histories: recency-weighted means of table rows, unit length."""
        import torch

        present = histories >= 0
        slots = np.searchsorted(self.items, np.where(present, histories, self.items[0] if len(self.items) else 0))
        weights = torch.from_numpy(recency_weights(histories.shape[1], decay) * present).to(device)
        gathered = self.vectors.to(device)[torch.from_numpy(slots).to(device)]  # (batch, width, dim)
        return torch.nn.functional.normalize((weights.unsqueeze(-1) * gathered).sum(1), dim=-1)


def _extra(table: HistoryTable | None) -> dict[str, Any]:
    if table is None:
        return {}
    import torch

    return {"history_step": table.step, "tensors": {"history_items": torch.from_numpy(table.items),
                                                    "history_vectors": table.vectors.contiguous()}}
