"""The training loop, top to bottom: batches, forward, loss, backward, clip, step, evaluate, checkpoint."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.config import TrainConfig
from tunelab.errors import UsageError
from tunelab.tasks.base import Encoded, Evaluation, Task, collate, loss_units
from tunelab.tasks.run import evaluate_examples
from tunelab.training.batching import count_steps, micro_batches, plan_batches
from tunelab.training.checkpoint import (
    LoopState,
    list_checkpoints,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
    save_model_state,
)
from tunelab.training.distributed import World, barrier, mean_over_ranks, shard, wrap
from tunelab.training.frozen_bottom import FrozenBottom, cache_bytes, find_stack
from tunelab.training.logit_norm import logit_norm_loss
from tunelab.training.precision import Precision
from tunelab.training.privacy import PrivacyPlan, make_private, physical_batches, poisson_batches, skip_step
from tunelab.training.progress import Progress
from tunelab.training.schedule import build_optimizer, build_scheduler
from tunelab.training.weight_average import WeightAverage
from tunelab.types import Example, LabelSet


@dataclass
class TrainData:
    """Encoded examples of one split, with the examples they came from (for metrics)."""

    examples: list[Example]
    encoded: list[Encoded]


@dataclass
class TrainResult:
    state: LoopState
    dev: Evaluation | None
    task_state: dict[str, Any] = field(default_factory=dict)


ADALORA_STATE = ("ipt", "exp_avg_ipt", "exp_avg_unc")  # AdaLoRA's rank allocator's tensors in a checkpoint


def train(model: Any, task: Task, labels: LabelSet, data: TrainData, dev: TrainData | None,
          cfg: TrainConfig, run_dir: Path, *, precision: Precision, pad_id: int,
          resume: bool = False, show_progress: bool = True, on_event: Any = None,
          world: World = World(), privacy: PrivacyPlan | None = None) -> TrainResult:
    """Fine-tune `model` in place; keep the best dev checkpoint (or a later one within noise
    of it); return the final loop state.

    `on_event(entry)`, when given, is called (on this thread) with each new history entry (a step's loss, a dev
    score) plus `total_steps`: the dashboard streams them live. `world`: this process's rank among several
    data-parallel ones (see `training.distributed`); rank 0 alone writes to `run_dir`. `privacy`: train with
    DP-SGD to that plan (`training.privacy`): Poisson-sampled batches, per-example clipping and noise, and the
    last step's weights kept (no selection on dev)."""
    assert cfg.epochs and cfg.batch_size and cfg.lr
    lengths = [len(e) for e in data.encoded]
    total = privacy.planned_steps if privacy else min(
        cfg.max_steps or 10**12, count_steps(lengths, cfg.batch_size, cfg.seed, cfg.epochs, cfg.max_tokens))
    bottom = freeze_bottom(model, cfg, lengths)  # before the optimiser and DDP
    # the average is chosen on dev: without one it would only be carried (training/weight_average.py)
    average = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay and privacy is None and dev is not None \
        and dev.examples else None
    optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay)
    scheduler = build_scheduler(optimizer, int(cfg.warmup_ratio * total), total, cfg.power)
    state, task_state = LoopState(total_steps=total), {}
    if resume:
        state, task_state = _restore(run_dir, model, optimizer, scheduler, average)
    progress = Progress(total, state.global_step, enabled=show_progress and world.main)
    if bottom is not None:
        progress.note(bottom.describe())
    forward = wrap(model, world)
    dims = encoder_dims(model)
    if privacy is not None:
        forward, optimizer = make_private(model, optimizer, privacy, cfg.batch_size)
    from tunelab.training.fast_dropout import fast_dropout  # imports torch

    reported = len(state.history)
    model.train()
    # torch's CPU dropout draws its mask slowly (training.fast_dropout; elsewhere it stays torch's); not under Opacus
    with fast_dropout(model) if privacy is None else contextlib.nullcontext():
        while not _done(state, cfg, total):
            batches = (poisson_batches(len(lengths), lengths, privacy.sample_rate, cfg.seed, state.epoch,
                                       -(-len(lengths) // cfg.batch_size)) if privacy else
                       plan_batches(lengths, cfg.batch_size, cfg.seed, state.epoch, max_tokens=cfg.max_tokens))
            for batch_ids in batches[state.batch_in_epoch :]:
                started = time.perf_counter()
                loss = _train_step(model, forward, task, data, shard(batch_ids, world), cfg, precision, pad_id,
                                   optimizer, scheduler, clip=privacy is None, dims=dims, bottom=bottom)
                if average is not None:
                    average.step()
                loss = mean_over_ranks(loss, world)
                state.train_seconds += time.perf_counter() - started
                state.bottom_tokens_run += bottom.take_filled_tokens() if bottom is not None else 0
                state.global_step += 1
                state.batch_in_epoch += 1
                state.samples_seen += len(batch_ids)
                state.tokens_seen += sum(lengths[i] for i in batch_ids)
                lr = scheduler.get_last_lr()[0]
                progress.update(state.global_step, state.epoch, cfg.epochs, loss, lr, len(batch_ids))
                state.history.append({"step": state.global_step, "epoch": state.epoch, "loss": round(loss, 6),
                                      "lr": lr})
                if cfg.eval_every and state.global_step % cfg.eval_every == 0:
                    task_state = _evaluate(model, task, labels, dev, state, cfg, precision, pad_id, run_dir,
                                           progress, task_state, world, select=privacy is None, average=average,
                                           final=state.global_step + cfg.eval_every > total)
                reported = _report(state, reported, on_event)
                if state.global_step >= total or state.stopped_early:
                    break
                if state.global_step % cfg.checkpoint_every == 0 and world.main:
                    save_checkpoint(run_dir, model, optimizer, scheduler, state, _extra(model, task_state, average))
            if state.batch_in_epoch >= len(batches):
                if not cfg.eval_every:
                    task_state = _evaluate(model, task, labels, dev, state, cfg, precision, pad_id, run_dir,
                                           progress, task_state, world, select=privacy is None, average=average,
                                           final=state.global_step >= total)
                state.epoch += 1
                state.batch_in_epoch = 0
            if state.global_step >= total or state.stopped_early:
                if not cfg.eval_every and state.batch_in_epoch:  # cut mid-epoch by max_steps
                    task_state = _evaluate(model, task, labels, dev, state, cfg, precision, pad_id, run_dir,
                                           progress, task_state, world, select=privacy is None, average=average,
                                           final=True)
                state.finished = True
            reported = _report(state, reported, on_event)
            if world.main:
                save_checkpoint(run_dir, model, optimizer, scheduler, state, _extra(model, task_state, average))
    if bottom is not None:  # after an exception the patched forwards stay, inert outside a training step
        bottom.close()
    progress.close()
    barrier(world)  # the best weights are on disk before every rank loads them
    return _finish(model, task, labels, dev, state, precision, pad_id, run_dir, task_state)


def freeze_bottom(model: Any, cfg: TrainConfig, lengths: list[int]) -> FrozenBottom | None:
    """Full fine-tuning with `cfg.frozen_layers` > 0: freeze the embeddings and that many bottom layers, and cache
    their output when it fits `cfg.layer_cache_mb` (None when there is nothing to freeze)."""
    k = cfg.frozen_layers or 0
    if k == 0 or cfg.method != "full":
        return None
    stack = find_stack(model)
    if stack is None or k >= len(stack.layers):
        raise UsageError(f"--frozen-layers {k}: " + (f"cannot find the embeddings and layers of {type(model).__name__}"
                                                     if stack is None else f"the model has {len(stack.layers)} layers"),
                         hint="train with --frozen-layers 0, or freeze fewer layers than the model has")
    hidden = int(getattr(getattr(model, "config", None), "hidden_size", 0) or 0)
    need = cache_bytes(lengths, hidden)
    return FrozenBottom(model, k, cache=bool(hidden) and need <= cfg.layer_cache_mb * 2**20, cache_bytes=need)


def _report(state: LoopState, reported: int, on_event: Any) -> int:
    """Hand history entries added since `reported` to `on_event`; returns the new count."""
    if on_event is not None:
        for entry in state.history[reported:]:
            on_event({**entry, "total_steps": state.total_steps})
    return len(state.history)


def _done(state: LoopState, cfg: TrainConfig, total: int) -> bool:
    return state.finished or state.stopped_early or state.global_step >= total or state.epoch >= (cfg.epochs or 0)


def _train_step(model: Any, forward: Any, task: Task, data: TrainData, batch_ids: list[int], cfg: TrainConfig,
                precision: Precision, pad_id: int, optimizer: Any, scheduler: Any, clip: bool = True,
                dims: tuple[int, int, int] | None = None, bottom: FrozenBottom | None = None) -> float:
    """One optimiser step on `batch_ids`; the forward pass runs through `forward` (the model, DDP around it, which
    averages the gradients over the ranks during backward, or Opacus's per-example gradient module, whose
    optimizer clips and noises; a Poisson batch too large for memory runs as pieces whose clipped per-example
    gradients add up before the one noised update, `training.privacy.physical_batches`). An empty batch (Poisson
    sampling under DP) only advances the schedule. A batch whose activations would exceed
    `cfg.activation_budget_mb` runs as micro-batches: each one's loss is weighted by
    its share of the batch, so the summed gradients are the whole batch's. `bottom`: the frozen bottom layers,
    told which examples each forward runs on (their cached output replaces them once every one was seen)."""
    import torch

    if not batch_ids:
        scheduler.step()
        return 0.0

    widths = [len(data.encoded[i]) for i in batch_ids]
    pieces = micro_batches(batch_ids, widths, dims, cfg.activation_budget_mb) if clip else \
        physical_batches(batch_ids, widths, dims, cfg.activation_budget_mb, _trainable(model))
    batches = [collate(task, [data.encoded[i] for i in piece], pad_id) for piece in pieces]
    units = [loss_units(b["targets"]) for b in batches]
    adalora = _adalora(model)
    total = 0.0
    for n, (batch, share, piece) in enumerate(zip(batches, units, pieces)):
        last = n == len(batches) - 1
        rows = bottom.rows(piece, [len(data.encoded[i]) for i in piece]) if bottom else contextlib.nullcontext()
        with _no_sync(forward, last), precision.autocast(), rows:
            logits = forward(input_ids=batch["input_ids"].to(precision.device),
                             attention_mask=batch["attention_mask"].to(precision.device)).logits
        weight = share / max(sum(units), 1)
        loss = _loss(task, cfg, logits, batch["targets"].to(precision.device))
        loss = loss * weight if clip else loss  # DP: Opacus un-averages each piece's mean itself
        if adalora is not None and n == 0:
            loss = loss + _orthogonal_penalty(model, adalora)
        loss.backward()
        total += float(loss.detach()) * (1.0 if clip else weight)
        if not clip and not last:
            skip_step(optimizer)
    if clip and cfg.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.max_grad_norm)
    optimizer.step()
    scheduler.step()
    if adalora is not None:  # AdaLoRA's rank re-allocation needs the gradients: before zero_grad
        model.base_model.update_and_allocate(scheduler.last_epoch)
    optimizer.zero_grad(set_to_none=True)
    return total


def _loss(task: Task, cfg: TrainConfig, logits: Any, targets: Any) -> Any:
    """The task's own loss, or LogitNorm (resolved only for single-label classification: training/defaults.py)."""
    if cfg.loss == "logit_norm":
        return logit_norm_loss(logits, targets, cfg.logit_norm_tau)
    return task.loss(logits, targets)


def _trainable(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _no_sync(forward: Any, last: bool) -> Any:
    """DDP's `no_sync` for every micro-batch but the last (gradients are averaged over the ranks once per step)."""
    return forward.no_sync() if not last and hasattr(forward, "no_sync") else contextlib.nullcontext()


def encoder_dims(model: Any) -> tuple[int, int, int] | None:
    """(hidden size, attention heads, layers) from the model's config, for the activation estimate; None if unknown."""
    config = getattr(model, "config", None)
    dims = [getattr(config, k, None) for k in ("hidden_size", "num_attention_heads", "num_hidden_layers")]
    return (int(dims[0]), int(dims[1]), int(dims[2])) if all(isinstance(d, int) and d > 0 for d in dims) else None


def _adalora(model: Any) -> Any:
    config = getattr(model, "peft_config", None)
    if not config:
        return None
    active = config.get("default")
    return active if type(active).__name__ == "AdaLoraConfig" else None


def _orthogonal_penalty(model: Any, config: Any) -> Any:
    """AdaLoRA's regulariser: mean ||P P^T - I||_F over the A (rows) and B (columns) factors."""
    import torch

    terms = []
    for name, param in model.named_parameters():
        if ("lora_A" in name or "lora_B" in name) and param.requires_grad:
            gram = param @ param.T if "lora_A" in name else param.T @ param
            terms.append(torch.linalg.matrix_norm(gram - torch.eye(gram.shape[0], dtype=gram.dtype)))
    if not terms:
        return torch.zeros(())
    return config.orth_reg_weight * torch.stack(terms).mean()


def _evaluate(model: Any, task: Task, labels: LabelSet, dev: TrainData | None, state: LoopState,
              cfg: TrainConfig, precision: Precision, pad_id: int, run_dir: Path, progress: Progress,
              task_state: dict[str, Any], world: World = World(), select: bool = True,
              average: WeightAverage | None = None, final: bool = True) -> dict[str, Any]:
    """Score dev; keep these weights if they are the best so far or within noise of it (train.keep_checkpoint);
    count evaluations without improvement for early stopping. With `average` (train.ema_decay) the candidate is the
    averaged weights, and at the schedule's last evaluation (`final`) the better of them and the trained ones on dev
    (the trained ones on a tie): the average led at every evaluation but the last in the runs measured
    (training/weight_average.py), and scoring both each time cost a dev pass per epoch (6% of a CoNLL-2003 run) for
    nothing. A run stopped early keeps the average it chose (its learning rate had not decayed). Every rank scores
    (same weights: the same decision everywhere); rank 0 saves. `select=False` (DP training): every evaluation's
    weights are kept, so the model is the last one, never one chosen by its dev score."""
    best_path = run_dir / "checkpoints" / "best.safetensors"
    if dev is None or not dev.examples:
        if world.main:
            best_path.parent.mkdir(parents=True, exist_ok=True)
            save_model_state(model, best_path)  # no dev to choose on: the trained weights (at the schedule's end
            # they are level with the average or ahead: training/weight_average.py)
        return task_state
    def score() -> Evaluation:
        return evaluate_examples(task, model, labels, dev.examples, dev.encoded, pad_id=pad_id,
                                 autocast=precision.autocast(), tune=True)

    entry: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch}
    averaged = average is not None
    if average is None:
        result = score()
    else:
        with average.applied():
            result = score()
        entry["dev_metric_averaged"] = round(result.metric, 6)
        if final:  # the trained weights too, at the schedule's end; they win a tie
            trained = score()
            entry["dev_metric_trained"] = round(trained.metric, 6)
            if trained.metric >= result.metric:
                result, averaged = trained, False
        entry["weights"] = "averaged" if averaged else "trained"
    model.train()
    state.history.append({**entry, "dev_metric": round(result.metric, 6), "dev_metric_name": result.metric_name})
    improved = not select or state.best_metric is None or result.metric > state.best_metric
    best = state.best_metric
    keep = improved or (cfg.keep_checkpoint == "latest_within_noise" and best is not None
                        and result.metric >= best - dev_noise(best, len(dev.examples)))
    progress.note(f"eval step {state.global_step}: dev {result.metric_name} {result.metric:.4f}"
                  + (" (averaged weights)" if averaged else "")
                  + (" (best)" if improved else " (kept: within noise of the best)" if keep else ""))
    if improved:
        state.best_metric, state.bad_evals = result.metric, 0
    else:  # a checkpoint kept within noise still counts towards early stopping: dev did not improve
        state.bad_evals += 1
        if cfg.patience and state.bad_evals >= cfg.patience:
            state.stopped_early = True
            progress.note(f"early stopping: no dev improvement in {cfg.patience} evaluations")
    if not keep:
        return task_state
    state.best_step = state.global_step
    if world.main:
        best_path.parent.mkdir(parents=True, exist_ok=True)
        with average.applied() if average is not None and averaged else contextlib.nullcontext():
            save_model_state(model, best_path)
    return {k: v for k, v in result.extra.items() if k == "thresholds"}


def dev_noise(metric: float, examples: int) -> float:
    """One standard error of a dev metric in [0, 1] over `examples` items, as for a proportion: sqrt(m(1 - m) / n).
    A later checkpoint this close to the best is kept instead (train.keep_checkpoint): on a 1,000-question dev,
    0.927 against 0.930 is 3 questions. In every full Banking77 run of bench-train where the best-dev checkpoint was
    not the last epoch (5 runs, 2026-12-05/06), the last epoch's test accuracy was equal or higher (+0.0 to +1.4
    points; benchmarks/RESULTS.md). For F1 over words or entities it is a rough, conservative proxy (n counts
    texts, not entities)."""
    if examples <= 0 or not 0.0 <= metric <= 1.0:
        return 0.0
    return (metric * (1.0 - metric) / examples) ** 0.5


def _restore(run_dir: Path, model: Any, optimizer: Any, scheduler: Any,
             average: WeightAverage | None = None) -> tuple[LoopState, dict[str, Any]]:
    from tunelab.errors import TrainingError

    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise TrainingError(f"{run_dir} has no checkpoint to resume from")
    state, extra = load_checkpoint(checkpoints[-1], model, optimizer, scheduler)
    if _adalora(model) is not None:
        _restore_adalora(model, extra)
    if average is not None:  # it took every optimiser step so far: as many as the loop state counts
        average.restore(extra.get("tensors") or {}, state.global_step)
    return state, dict(extra.get("task_state") or {})


def _extra(model: Any, task_state: dict[str, Any], average: WeightAverage | None = None) -> dict[str, Any]:
    """What a checkpoint needs beyond weights and optimiser: task state, AdaLoRA's allocator, the weight average."""
    extra: dict[str, Any] = {"task_state": task_state}
    tensors: dict[str, Any] = {}
    config = _adalora(model)
    if config is not None:
        allocator = model.base_model.rankallocator
        extra["adalora_rank_pattern"] = config.rank_pattern
        tensors.update({f"{kind}/{name}": value.detach().contiguous().clone()
                        for kind in ADALORA_STATE for name, value in getattr(allocator, kind).items()})
    if average is not None:
        tensors.update(average.tensors())
    if tensors:
        extra["tensors"] = tensors
    return extra


def _restore_adalora(model: Any, extra: dict[str, Any]) -> None:
    model.peft_config["default"].rank_pattern = extra.get("adalora_rank_pattern")
    allocator = model.base_model.rankallocator
    for key, value in (extra.get("tensors") or {}).items():
        kind, _, name = key.partition("/")
        if kind in ADALORA_STATE:
            getattr(allocator, kind)[name] = value


def _finish(model: Any, task: Task, labels: LabelSet, dev: TrainData | None, state: LoopState,
            precision: Precision, pad_id: int, run_dir: Path, task_state: dict[str, Any]) -> TrainResult:
    """Load the best weights back and score dev once more with them."""
    best_path = run_dir / "checkpoints" / "best.safetensors"
    if best_path.is_file():
        load_model_state(model, best_path)
    result = None
    if dev is not None and dev.examples:
        result = evaluate_examples(task, model, labels, dev.examples, dev.encoded, pad_id=pad_id,
                                   autocast=precision.autocast(), state=task_state, tune=True)
        task_state = {k: v for k, v in result.extra.items() if k == "thresholds"}
    return TrainResult(state, result, task_state)
