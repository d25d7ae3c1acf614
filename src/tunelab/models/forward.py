"""Batched inference over encoded examples: length-sorted, dynamically padded, results in input order."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tunelab.models.attention import served_attention

TAGGING_LIMIT = 512  # word pieces; BERT-family position tables


def tagging_length(model: Any) -> int:
    """How many word pieces of one text a model that labels words tags: all its position table allows (at most
    TAGGING_LIMIT), past the length it trained at (words beyond it get O). The Predictor tags with it, and the
    training recipe scores dev and test with it, so a run's reported F1 is the one `tunelab evaluate` gives."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    limit = getattr(getattr(inner, "config", None), "max_position_embeddings", None)
    return int(min(TAGGING_LIMIT, limit or TAGGING_LIMIT))


def predict_logits(model: Any, encoded: Sequence[Any], *, batch_size: int, pad_id: int,
                   autocast: Any = None, per_token: bool = False,
                   on_batch: Callable[[list[int]], None] | None = None) -> list[np.ndarray]:
    """Logits per example (per-token ones trimmed to the example's length), in the order given.

    `model` is a torch model, or anything with `is_onnx` and `run(ids, mask) -> logits` on numpy arrays.
    `on_batch(rows)`, when given, is called after each batch with its indices into `encoded` (longest first)."""
    out: list[np.ndarray | None] = [None] * len(encoded)
    onnx = getattr(model, "is_onnx", False)
    with contextlib.nullcontext() if onnx else torch_mode(model, autocast):
        for rows, ids, mask in padded_batches(encoded, batch_size, pad_id):
            logits = model.run(ids, mask).astype(np.float32, copy=False) if onnx else _torch_logits(model, ids, mask)
            for r, i in enumerate(rows):
                out[i] = logits[r, : len(encoded[i])] if per_token else logits[r]
            if on_batch is not None:
                on_batch(rows)
    return [x for x in out if x is not None]


def padded_batches(encoded: Sequence[Any], batch_size: int,
                   pad_id: int) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """(indices into `encoded`, padded ids, attention mask) per batch, longest examples first (least padding)."""
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            ids[r, : len(encoded[i])] = encoded[i].input_ids
            mask[r, : len(encoded[i])] = 1
        yield rows, ids, mask


@contextlib.contextmanager
def torch_mode(model: Any, autocast: Any) -> Iterator[None]:
    """Eval mode, no autograd, the autocast context, the attention kernel the model is served with
    (`models/attention.py`); the model's training flag restored after."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), served_attention(model), (autocast or contextlib.nullcontext()):
            yield
    finally:
        model.train(was_training)


def _torch_logits(model: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import torch

    device = next(model.parameters()).device
    result = model(input_ids=torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(device))
    return result.logits.float().cpu().numpy()


def batch_logits(model: Any, ids: np.ndarray, mask: np.ndarray, autocast: Any = None) -> np.ndarray:
    """One already-padded batch through a torch or ONNX model."""
    if getattr(model, "is_onnx", False):
        return model.run(ids, mask)
    with torch_mode(model, autocast):
        return _torch_logits(model, ids, mask)
