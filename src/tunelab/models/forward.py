"""Batched inference over encoded examples: length-sorted, dynamically padded, results in input order."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np


def predict_logits(model: Any, encoded: Sequence[Any], *, batch_size: int, pad_id: int,
                   autocast: Any = None, per_token: bool = False) -> list[np.ndarray]:
    """Logits per example (per-token ones trimmed to the example's length), in the order given."""
    import torch

    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    out: list[np.ndarray | None] = [None] * len(encoded)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.inference_mode(), (autocast or contextlib.nullcontext()):
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                ids[r, : len(encoded[i])] = torch.tensor(encoded[i].input_ids)
                mask[r, : len(encoded[i])] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            logits = logits.float().cpu().numpy()
            for r, i in enumerate(rows):
                out[i] = logits[r, : len(encoded[i])] if per_token else logits[r]
    model.train(was_training)
    return [x for x in out if x is not None]
