"""Pooled features (the classification head's input) and logits in one forward pass, for out-of-distribution scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tunelab.errors import UsageError


def predict_features(model: Any, encoded: Sequence[Any], *, batch_size: int, pad_id: int,
                     autocast: Any = None, pooling: str = "head", layer: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, d), logits (n, classes)) in the order given, from a torch sequence classifier.

    pooling "head": what the classification head receives (for BERT: the pooled [CLS] vector), captured with a
    forward hook; a model without a `classifier` module gives its last layer's first-token state instead.
    pooling "mean": the mean of the last layer's token states over the attention mask (a sentence embedding;
    the better input of the distance scores, measured on Banking77). `layer`: with "head", capture the input of this
    module instead of the `classifier` (the few-shot recipe's final linear layer)."""
    import torch

    from tunelab.models.forward import padded_batches, torch_mode

    if getattr(model, "is_onnx", False):
        raise UsageError("pooled features need the torch model, not an ONNX artifact")
    if pooling not in ("head", "mean"):
        raise UsageError(f"unknown feature pooling {pooling!r}", hint="choose head or mean")
    features: list[np.ndarray | None] = [None] * len(encoded)
    logits: list[np.ndarray | None] = [None] * len(encoded)
    head = (layer if layer is not None else getattr(model, "classifier", None)) if pooling == "head" else None
    captured: list[Any] = []
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0])) if head is not None else None
    device = next(model.parameters()).device
    try:
        with torch_mode(model, autocast):
            for rows, ids, mask in padded_batches(encoded, batch_size, pad_id):
                captured.clear()
                out = model(input_ids=torch.from_numpy(ids).to(device),
                            attention_mask=torch.from_numpy(mask).to(device), output_hidden_states=head is None)
                batch_features = _pooled(out, captured, torch.from_numpy(mask).to(device), pooling)
                batch_logits = out.logits.float().cpu().numpy()
                for r, i in enumerate(rows):
                    features[i], logits[i] = batch_features[r], batch_logits[r]
    finally:
        if hook is not None:
            hook.remove()
    width = int(getattr(getattr(model, "config", None), "hidden_size", 0))
    if not encoded:
        return np.zeros((0, width), dtype=np.float32), np.zeros((0, 0), dtype=np.float32)
    return np.stack(features).astype(np.float32), np.stack(logits).astype(np.float32)  # type: ignore[arg-type]


def _pooled(out: Any, captured: list[Any], mask: Any, pooling: str) -> np.ndarray:
    """(batch, d) features of one forward pass: the head's captured input, or the last layer's token mean or first
    token state."""
    if captured:
        pooled = captured[0][:, 0] if captured[0].dim() == 3 else captured[0]
    elif pooling == "mean":
        weights = mask.float().unsqueeze(-1)
        pooled = (out.hidden_states[-1].float() * weights).sum(1) / weights.sum(1).clamp_min(1.0)
    else:
        pooled = out.hidden_states[-1][:, 0]
    return pooled.float().cpu().numpy()
