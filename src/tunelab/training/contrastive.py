"""The few-shot recipe, top to bottom: contrastive steps on sentence pairs, then a logistic-regression head.

As SetFit does: pairs of training texts (same class: target cosine 1, different: 0), a cosine-similarity loss
(mean squared error between the pair's cosine and its target) fine-tunes the whole encoder, then a scikit-learn
logistic regression is fitted on the encoder's features of the training texts. The features are the input of the
model's own final classification layer; a BERT-family classifier first gets mean pooling (models/pooling.py: the
masked, normalised mean of the token states, as the sentence encoder and SetFit pool), other architectures keep
their own. The fitted coefficients are written into that layer, so the run stays an ordinary sequence classifier
(safetensors, no pickle) that the Predictor, the server and ONNX export load as any other."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from tunelab.config import TrainConfig
from tunelab.errors import UsageError
from tunelab.models.pooling import MEAN, can_mean_pool, pooling_of, use_mean_pooling
from tunelab.tasks.base import Task
from tunelab.tasks.run import evaluate_examples
from tunelab.training.checkpoint import LoopState
from tunelab.training.fewshot import PairSet, build_pairs
from tunelab.training.loop import TrainData, TrainResult
from tunelab.training.precision import Precision
from tunelab.training.progress import Progress
from tunelab.training.schedule import build_optimizer, build_scheduler
from tunelab.types import LabelSet

PAIR_BATCH = 16  # pairs per optimiser step (SetFit's default batch size)
BODY_LR = 2e-5  # SetFit's default body learning rate
WARMUP = 0.1  # SetFit's default warm-up proportion
HEAD_C = 1.0  # scikit-learn's default inverse regularisation strength, as SetFit's default head


def train_few_shot(model: Any, task: Task, labels: LabelSet, data: TrainData, dev: TrainData | None,
                   cfg: TrainConfig, *, precision: Precision, pad_id: int, show_progress: bool = True,
                   on_event: Any = None) -> TrainResult:
    """Contrastive fine-tuning of `model`'s encoder on pairs of `data`, then its classification layer set to a
    logistic regression fitted on the tuned features. Returns the loop's result shape (no dev selection: the
    final weights are kept). `on_event` receives each history entry, as from `training.loop.train`."""
    layer = head_layer(model)
    if can_mean_pool(model):
        use_mean_pooling(model)  # pool as the sentence encoder was trained to (and SetFit does)
    state = _contrastive_steps(model, layer, task, data, cfg, precision, pad_id, show_progress, on_event)
    started = time.perf_counter()
    fit_head(model, layer, data, len(labels), pad_id)
    state.train_seconds += time.perf_counter() - started
    state.epoch, state.finished, state.best_step = 1, True, state.global_step
    result = None
    if dev is not None and dev.examples:
        result = evaluate_examples(task, model, labels, dev.examples, dev.encoded, pad_id=pad_id,
                                   autocast=precision.autocast(), tune=True)
        state.best_metric = result.metric
        entry = {"step": state.global_step, "epoch": 0, "dev_metric": round(result.metric, 6),
                 "dev_metric_name": result.metric_name}
        state.history.append(entry)
        if on_event is not None:
            on_event({**entry, "total_steps": state.total_steps})
    return TrainResult(state, result, {})


def _contrastive_steps(model: Any, layer: Any, task: Task, data: TrainData, cfg: TrainConfig,
                       precision: Precision, pad_id: int, show_progress: bool, on_event: Any) -> LoopState:
    """One pass over SetFit's pairs, PAIR_BATCH pairs a step, linear warm-up then linear decay."""
    targets = [int(e.target) for e in data.encoded]
    pairs = build_pairs(targets, cfg.few_shot_iterations, cfg.seed)
    total = -(-len(pairs) // PAIR_BATCH)
    optimizer = build_optimizer(model, BODY_LR, cfg.weight_decay)
    scheduler = build_scheduler(optimizer, int(WARMUP * total), total, 1.0)
    state = LoopState(total_steps=total)
    progress = Progress(total, 0, enabled=show_progress)
    model.train()
    for start in range(0, len(pairs), PAIR_BATCH):
        started = time.perf_counter()
        rows = np.arange(start, min(start + PAIR_BATCH, len(pairs)))
        loss, tokens = _pair_step(model, layer, task, data, pairs, rows, cfg, precision, pad_id, optimizer,
                                  scheduler)
        state.train_seconds += time.perf_counter() - started
        state.global_step += 1
        state.samples_seen += len(rows)
        state.tokens_seen += tokens
        lr = scheduler.get_last_lr()[0]
        progress.update(state.global_step, 0, 1, loss, lr, len(rows))
        entry = {"step": state.global_step, "epoch": 0, "loss": round(loss, 6), "lr": lr}
        state.history.append(entry)
        if on_event is not None:
            on_event({**entry, "total_steps": total})
    progress.close()
    return state


def head_layer(model: Any) -> Any:
    """The final linear layer of a sequence classifier's head (BERT: `classifier`; RoBERTa/XLM-R: its `out_proj`)."""
    import torch

    head = getattr(model, "classifier", None)
    for candidate in (head, getattr(head, "out_proj", None)):
        if isinstance(candidate, torch.nn.Linear):
            return candidate
    raise UsageError(f"the few-shot recipe needs a linear classification layer; {type(model).__name__} has none",
                     hint="train it with --few-shot never")


@contextlib.contextmanager
def captured_features(model: Any, layer: Any) -> Iterator[list[Any]]:
    """Collect the features of each forward pass while the block runs: the mean pooler's output where the model has
    one (before the classifier's dropout, as SetFit's embeddings), else what `layer` receives."""
    seen: list[Any] = []
    if pooling_of(model) == MEAN:
        pooler = getattr(model, model.base_model_prefix).pooler
        hook = pooler.register_forward_hook(lambda _m, _args, out: seen.append(out))
    else:
        hook = layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        yield seen
    finally:
        hook.remove()


def _features(model: Any, layer: Any, batch: dict[str, Any], device: str) -> Any:
    with captured_features(model, layer) as seen:
        model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
    return seen[-1]


def _pair_step(model: Any, layer: Any, task: Task, data: TrainData, pairs: PairSet, rows: np.ndarray, cfg: TrainConfig,
               precision: Precision, pad_id: int, optimizer: Any, scheduler: Any) -> tuple[float, int]:
    """One optimiser step on the pairs at `rows`: each text in them encoded once, MSE(cosine, target)."""
    import torch

    from tunelab.tasks.base import collate

    texts, where = np.unique(np.concatenate([pairs.left[rows], pairs.right[rows]]), return_inverse=True)
    encoded = [data.encoded[int(i)] for i in texts]
    batch = collate(task, encoded, pad_id, with_targets=False)
    with precision.autocast():
        features = _features(model, layer, batch, precision.device).float()
    half = len(rows)
    cosine = torch.nn.functional.cosine_similarity(features[where[:half]], features[where[half:]], dim=-1)
    loss: Any = torch.nn.functional.mse_loss(cosine, torch.from_numpy(pairs.target[rows]).to(cosine.device))
    loss.backward()
    if cfg.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), sum(len(e) for e in encoded)


def embed(model: Any, layer: Any, data: TrainData, pad_id: int, batch_size: int = 64) -> np.ndarray:
    """(n, d) float32: the features `layer` receives for each example, in fp32 and eval mode (as the Predictor
    runs), in the order given."""
    from tunelab.inference.features import predict_features

    return predict_features(model, data.encoded, batch_size=batch_size, pad_id=pad_id, layer=layer)[0]


def fit_head(model: Any, layer: Any, data: TrainData, n_labels: int, pad_id: int) -> None:
    """Fit scikit-learn's logistic regression on the training features and copy it into `layer`, so that
    softmax(layer(features)) equals the regression's predict_proba."""
    import torch
    from sklearn import linear_model
    features = embed(model, layer, data, pad_id)
    targets = np.array([e.target for e in data.encoded], dtype=np.int64)
    head = linear_model.LogisticRegression(C=HEAD_C, max_iter=1000).fit(features, targets)
    weight = np.zeros((n_labels, features.shape[1]), dtype=np.float32)
    bias = np.full(n_labels, -1e4, dtype=np.float32)  # a class absent from training is never predicted
    classes = head.classes_.astype(int)
    if len(classes) == 2:  # one coefficient row: softmax([0, z]) = sigmoid(z)
        weight[classes[1]], bias[classes[0]], bias[classes[1]] = head.coef_[0], 0.0, head.intercept_[0]
    else:
        weight[classes], bias[classes] = head.coef_, head.intercept_
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
