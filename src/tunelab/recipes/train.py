"""run_train: validate data, choose defaults, build the model, run the loop, evaluate, save the artifact."""

from __future__ import annotations

import random
import shutil
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.artifacts.export import InferenceSettings, export_model
from tunelab.artifacts.files import write_json_atomic
from tunelab.artifacts.manifest import MANIFEST, Manifest, library_versions, load_manifest, save_manifest
from tunelab.config import RunConfig, load_config, load_run_config, save_config
from tunelab.data import load_dataset
from tunelab.errors import UsageError
from tunelab.models.attention import train_with_eager_attention
from tunelab.models.build import apply_method, load_tokenizer
from tunelab.models.casing import add_case_rows, case_id_base, mark_tokenizer, model_case_id_base
from tunelab.models.forward import tagging_length
from tunelab.models.pooling import pooling_of
from tunelab.models.resolve import resolve_model_path
from tunelab.recipes.card import write_model_card
from tunelab.recipes.outputs import write_evaluation
from tunelab.tasks import Evaluation, Task, get_task
from tunelab.tasks.run import evaluate_examples
from tunelab.training.batching import count_steps
from tunelab.training.contrastive import train_few_shot
from tunelab.training.defaults import (
    bottom_freezable,
    case_capable,
    dp_defaults_taken,
    model_depth,
    resolve_defaults,
    word_embedding_weights,
)
from tunelab.training.distributed import World, barrier, close_world, init_world, threads_per_rank
from tunelab.training.fewshot import choose_few_shot
from tunelab.training.logit_norm import calibrate
from tunelab.training.loop import TrainData, TrainResult, train
from tunelab.training.mfu import utilisation
from tunelab.training.precision import choose_precision, set_threads
from tunelab.training.privacy import check_private, plan, prepare_private
from tunelab.types import DatasetBundle, Split, TextExample


@dataclass(frozen=True)
class TrainSummary:
    """What a finished run reports back."""

    run_dir: Path
    manifest: Manifest
    metrics: dict[str, Any]
    warnings: tuple[str, ...]


def run_train(config: RunConfig, *, resume: str | Path | None = None, show_progress: bool = True,
              on_event: Any = None, task: Task | None = None, unlabelled: Split | None = None) -> TrainSummary:
    """Train one run end to end. With `resume`, continue the run in that folder from its last checkpoint.
    `on_event(entry)` receives each training history entry as it happens (see `training.loop.train`).
    `task`: a task object in place of `config.data.task`'s (distillation passes one that carries the
    teacher's logits; it must keep that task's name). `unlabelled`: examples trained on with the training file's
    (distillation's unlabelled texts, which that task knows how to score); the defaults, the labels and the run's
    record of its training data stay the training file's, and splits.json lists them apart.

    Under torchrun (`tunelab train --nproc N`) every process runs this with the same arguments: they train
    together (`training.distributed`), rank 0 writes the run folder and the others return its summary."""
    world = init_world(_device())
    try:
        return _run_train(config, world, resume, show_progress and world.main, on_event, task, unlabelled)
    finally:
        close_world(world)


def _run_train(config: RunConfig, world: World, resume: str | Path | None, show_progress: bool, on_event: Any,
               task: Task | None, unlabelled: Split | None = None) -> TrainSummary:
    started = time.perf_counter()
    say = _printer(show_progress)
    run_dir, config = _prepare_run_dir(config, resume, check_empty=world.main)
    bundle = load_dataset(config.data, config.train.seed)  # raises DataError before any folder exists
    for warning in bundle.warnings:
        say(f"warning: {warning}")
    _check_resume_data(run_dir, bundle, resume)
    task = task or get_task(config.data.task)
    model_path = resolve_model_path(config.model.name)
    tokenizer = load_tokenizer(model_path)
    labels = task.build_labels(bundle.train.examples)
    dp_defaults = dp_defaults_taken(config)
    config = _resolve(config, task, bundle, tokenizer, labels, model_depth(model_path),
                      word_embedding_weights(model_path), bottom_freezable(model_path),
                      task.spec.per_token and case_capable(model_path, tokenizer))
    few_shot = choose_few_shot(config.train, task.spec, _class_of_each(task, bundle.train),
                               distributed=world.distributed)
    if few_shot.use:  # the few-shot recipe trains the whole encoder, embeddings included (as SetFit does), with
        # its own pair loss and a fitted head
        config = replace(config, train=replace(config.train, word_embeddings="train", frozen_layers=0,
                                               loss="cross_entropy", ema_decay=0.0))
    _seed_everything(config.train.seed)
    private = config.train.privacy == "dp"
    check_private(config.train, task.spec.per_token, resume is not None)
    if private and world.distributed:
        raise UsageError("--privacy dp runs in one process (drop --nproc)")
    precision = choose_precision("fp32" if private else config.train.precision)
    threads = set_threads(config.train.threads or (threads_per_rank(world) if world.distributed else None))
    say(f"{task.name}: {len(bundle.train)} train" + (f" + {len(unlabelled)} unlabelled" if unlabelled else "")
        + f" / {_n(bundle.dev)} dev / {_n(bundle.test)} test examples, "
        f"{len(labels)} labels; method {config.train.method}, {config.train.epochs} epochs, batch "
        f"{config.train.batch_size}, lr {config.train.lr:g}, max_length {config.model.max_length}, "
        f"{precision.dtype} on {precision.device} x{threads}"
        + (f", {world.size} processes (global batch split between them)" if world.distributed else ""))
    if few_shot.use:
        say(f"few-shot recipe ({few_shot.reason}): contrastive pairs from {few_shot.iterations} rounds, then a "
            "logistic-regression head; epochs, batch and lr above do not apply"
            + ("; resuming starts it again (it keeps no checkpoints)" if resume else ""))
    if not resume and world.main:
        _start_run_dir(run_dir, config, bundle, unlabelled)
    barrier(world)
    max_length = int(config.model.max_length or 128)
    # the words' case packed into the ids from here on (models/casing.py); a base trained with it keeps its id base
    base_reads_case = case_id_base(tokenizer) is not None
    case_base = mark_tokenizer(tokenizer) if config.model.case_feature == "always" else None
    trained_on = bundle.train if unlabelled is None else replace(
        bundle.train, examples=bundle.train.examples + unlabelled.examples)
    train_data = _encode(task, trained_on, tokenizer, labels, max_length)
    t = config.train
    total = min(t.max_steps or 10**12, count_steps([len(e) for e in train_data.encoded], t.batch_size, t.seed,
                                                   t.epochs, t.max_tokens))
    model = task.build_model(model_path, labels, config.model.dropout)
    if case_base is not None:
        add_case_rows(model, case_base, fresh=not base_reads_case)
    train_with_eager_attention(model, precision.device)
    model = apply_method(model, config.train, task.peft_task_type, total).to(precision.device)
    # dev and test are scored as the Predictor will use the model: words past the training length still tagged
    scored_length = tagging_length(model) if task.spec.per_token else max_length
    dev_data = _encode(task, bundle.dev, tokenizer, labels, scored_length) if bundle.dev else None
    privacy = None
    if private:
        prepare_private(model, config.train.method)
        privacy = plan(config.train, len(train_data.encoded), dp_defaults)
        say(f"differential privacy: target ε {privacy.target_epsilon:g} at δ {privacy.delta:.2g} over "
            f"{privacy.planned_steps} steps: noise multiplier {privacy.noise_multiplier:.3f}, sampling rate "
            f"{privacy.sample_rate:.4f}, per-example clipping at {privacy.max_grad_norm:g}"
            + (f"; DP defaults for {', '.join(dp_defaults)}" if dp_defaults else ""))
    if few_shot.use:
        result = train_few_shot(model, task, labels, train_data, dev_data, config.train, precision=precision,
                                pad_id=int(tokenizer.pad_token_id or 0), show_progress=show_progress,
                                on_event=on_event)
    else:
        result = train(model, task, labels, train_data, dev_data, config.train, run_dir, precision=precision,
                       pad_id=int(tokenizer.pad_token_id or 0), resume=resume is not None,
                       show_progress=show_progress, on_event=on_event, world=world, privacy=privacy)
    if not world.main:
        barrier(world)  # rank 0 evaluates and writes the run folder
        from tunelab.artifacts.files import read_json

        return TrainSummary(run_dir, load_manifest(run_dir), read_json(run_dir / "metrics.json"), bundle.warnings)
    evaluations: dict[str, Evaluation] = {"dev": result.dev} if result.dev else {}
    if config.train.loss == "logit_norm":
        result = _calibrate(model, task, labels, result, dev_data or train_data, config.train.logit_norm_tau,
                            precision, int(tokenizer.pad_token_id or 0), say)
        evaluations = {"dev": result.dev} if result.dev else {}
    if bundle.test:
        test_data = _encode(task, bundle.test, tokenizer, labels, scored_length)
        evaluations["test"] = evaluate_examples(task, model, labels, test_data.examples, test_data.encoded,
                                                pad_id=int(tokenizer.pad_token_id or 0),
                                                autocast=precision.autocast(), state=result.task_state)
    state = result.state
    timings = {"train_seconds": round(state.train_seconds, 3),
               "samples_per_second": round(state.samples_seen / max(state.train_seconds, 1e-9), 3),
               "tokens_per_second": round(state.tokens_seen / max(state.train_seconds, 1e-9), 1),
               "steps": state.global_step, "best_step": state.best_step, "stopped_early": state.stopped_early}
    frozen = (config.train.frozen_layers or 0) if state.bottom_tokens_run else 0  # the bottom ran frozen
    timings.update(utilisation(model, config.train.method, state.tokens_seen, state.samples_seen,
                               state.train_seconds, precision.dtype, frozen, state.bottom_tokens_run))
    metrics = write_evaluation(run_dir, f"{run_dir.name} ({task.name})", evaluations, labels, state.history,
                               {"training": timings})
    write_json_atomic(run_dir / "history.json", state.history)
    thresholds = result.task_state.get("thresholds")
    settings = InferenceSettings(task.name, max_length, dict(zip(labels.names, map(float, thresholds)))
                                 if thresholds else None, pooling_of(model), model_case_id_base(model))
    artifacts = export_model(model, tokenizer, run_dir, settings)
    timings["total_seconds"] = round(time.perf_counter() - started, 3)
    manifest = Manifest(
        task=task.name, labels=list(labels.names), base_model=config.model.name, method=config.train.method,
        max_length=max_length, data_fingerprint=bundle.fingerprint,
        metrics={split: {e.metric_name: round(e.metric, 6)} for split, e in evaluations.items()},
        timings=timings, task_state={**result.task_state, **task.reading_state(bundle.train.examples)},
        splits=_split_summary(bundle, unlabelled),
        versions=library_versions(), created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        precision=precision.dtype, artifacts=artifacts,
        privacy={**privacy.record(result.state.global_step), "pooling": pooling_of(model) or "model"} if privacy
        else {},
        few_shot=few_shot.record(result.state.samples_seen, pooling_of(model)) if task.spec.single_label else {})
    write_model_card(run_dir, manifest, config)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    save_manifest(run_dir, manifest)  # last: a folder with manifest.json is complete
    barrier(world)
    return TrainSummary(run_dir, manifest, metrics, bundle.warnings)


def rebase_run(run_dir: Path, base_model: str) -> None:
    """A run trained from weights staged in a temporary folder (pruned layers or heads, a cut student):
    name its origin in the manifest and model card, and point config.yaml's model at the run itself, so the
    config still loads (and fine-tunes this model further) once the staging folder is gone."""
    config = load_config(run_dir / "config.yaml")
    config = replace(config, model=replace(config.model, name=str(run_dir.resolve())))
    save_config(config, run_dir / "config.yaml")
    manifest = load_manifest(run_dir)
    manifest.base_model = base_model
    write_model_card(run_dir, manifest, config)
    save_manifest(run_dir, manifest)


def _calibrate(model: Any, task: Task, labels: Any, result: TrainResult, held_out: TrainData, tau: float,
               precision: Any, pad_id: int, say: Any) -> TrainResult:
    """After LogitNorm training: fold the temperature fitted on dev (the training data without one) into the
    classification layer, and score dev again with the calibrated probabilities (its argmax is unchanged)."""
    temperature = calibrate(model, held_out.encoded, tau, pad_id=pad_id, autocast=precision.autocast())
    fitted_on = "dev" if result.dev else "train"
    say(f"logit_norm: softmax temperature {temperature:.4g} fitted on {fitted_on} and folded into the classifier")
    dev = None if result.dev is None else evaluate_examples(
        task, model, labels, held_out.examples, held_out.encoded, pad_id=pad_id, autocast=precision.autocast(),
        state=result.task_state)
    state = {**result.task_state, "logit_norm": {"temperature": round(temperature, 6), "fitted_on": fitted_on}}
    return replace(result, dev=dev, task_state=state)


def _printer(enabled: bool) -> Any:
    def say(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return say


def _n(split: Split | None) -> int:
    return len(split) if split else 0


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _prepare_run_dir(config: RunConfig, resume: str | Path | None,
                     check_empty: bool = True) -> tuple[Path, RunConfig]:
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").is_file():
            raise UsageError(f"{run_dir} is not a TuneLab run folder (no config.yaml) and cannot be resumed")
        if (run_dir / MANIFEST).is_file():
            raise UsageError(f"{run_dir} already finished; nothing to resume")
        return run_dir, load_run_config(run_dir)
    if not config.output:
        raise UsageError("no output folder given", hint="pass --output runs/NAME")
    run_dir = Path(config.output)
    if check_empty and run_dir.exists() and any(run_dir.iterdir()):
        raise UsageError(f"output folder {run_dir} already exists and is not empty",
                         hint="choose another --output, or --resume it if training was interrupted")
    return run_dir, config


def _check_resume_data(run_dir: Path, bundle: DatasetBundle, resume: Any) -> None:
    if resume is None:
        return
    from tunelab.artifacts.files import read_json

    recorded = read_json(run_dir / "splits.json").get("fingerprint")
    if recorded != bundle.fingerprint:
        raise UsageError(f"the data files changed since {run_dir} started (sha256 differs); cannot resume",
                         hint="start a new run with --output")


def _resolve(config: RunConfig, task: Task, bundle: DatasetBundle, tokenizer: Any, labels: Any,
             layers: int | None, embedding_weights: int | None, freezable: bool, can_case: bool) -> RunConfig:
    limit = int(min(512, getattr(tokenizer, "model_max_length", 512) or 512))
    lengths = [len(e) for e in task.encode(bundle.train.examples, tokenizer, labels, limit)]
    resolved = resolve_defaults(config, len(bundle.train), lengths, limit, layers, embedding_weights, freezable,
                                len(labels), can_case)
    resolved.validate()
    if resolved.model.case_feature == "always" and not can_case:
        raise UsageError(f"model.case_feature always: {config.model.name} cannot take the words' case here",
                         hint="it needs a label per word (--task ner), an encoder with a token-type table (BERT "
                              "family; not MPNet or DistilBERT) and a tokenizer that lowercases (a cased one sees "
                              "the case already); set --case-feature auto or never")
    frozen = resolved.train.frozen_layers or 0
    if layers and frozen >= layers:
        raise UsageError(f"train.frozen_layers is {frozen}, but {config.model.name} has {layers} layers",
                         hint=f"freeze at most {layers - 1}, so that one layer and the head train (0 trains them all)")
    return resolved


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _start_run_dir(run_dir: Path, config: RunConfig, bundle: DatasetBundle, unlabelled: Split | None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(replace(config, output=str(run_dir)), run_dir / "config.yaml")
    write_json_atomic(run_dir / "splits.json", {
        "fingerprint": bundle.fingerprint, "note": bundle.split_note, "warnings": list(bundle.warnings),
        **{name: _sources(split) for name, split in (("train", bundle.train), ("dev", bundle.dev),
                                                     ("test", bundle.test), ("unlabelled", unlabelled)) if split},
    })


def _sources(split: Split) -> dict[str, Any]:
    rows = [[e.source.path, e.source.line] if e.source else None for e in split.examples]
    return {"path": split.path, "examples": len(split), "rows": rows}


def _split_summary(bundle: DatasetBundle, unlabelled: Split | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"note": bundle.split_note}
    for name, split in (("train", bundle.train), ("dev", bundle.dev), ("test", bundle.test),
                        ("unlabelled", unlabelled)):
        if split:
            out[name] = {"path": split.path, "examples": len(split)}
    return out


def _class_of_each(task: Task, split: Split) -> list[str]:
    """Each training example's class (single-label tasks; empty otherwise: the few-shot choice is theirs only)."""
    if not task.spec.single_label:
        return []
    return [e.labels[0] for e in split.examples if isinstance(e, TextExample) and e.labels]


def _encode(task: Task, split: Split, tokenizer: Any, labels: Any, max_length: int) -> TrainData:
    examples = list(split.examples)
    return TrainData(examples, task.encode(examples, tokenizer, labels, max_length))
