"""The two towers on one shared encoder: an item is its text's mean-pooled embedding; a user is the recency-weighted
mean of the embeddings of their latest positive items (or of a free-text query)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ITEM_MAX_LENGTH = 64  # tokens of item text


def pooled(model: Any, tokenizer: Any, texts: Sequence[str], device: str = "cpu") -> Any:
    """Unit-length mean-pooled encoder states of `texts` (a torch tensor; gradients flow when enabled)."""
    import torch

    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=ITEM_MAX_LENGTH, return_tensors="pt")
    hidden = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))[0]
    mask = batch["attention_mask"].to(device).unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return torch.nn.functional.normalize(mean.float(), dim=-1)


def recency_weights(length: int, decay: float) -> np.ndarray:
    """Weights of a history of `length` items, oldest first: the newest weighs 1, each older one `decay` times less."""
    return (decay ** np.arange(length - 1, -1, -1)).astype(np.float32)


def user_vector(item_vectors: np.ndarray, history: np.ndarray, decay: float) -> np.ndarray:
    """The user tower on precomputed item vectors: recency-weighted mean of `history` (oldest first), unit length."""
    if len(history) == 0:
        return np.zeros(item_vectors.shape[1], dtype=np.float32)
    vector = recency_weights(len(history), decay) @ item_vectors[history]
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


@dataclass(frozen=True)
class NextItemExamples:
    """Training pairs: up to `width` previous positives of a user (oldest first, -1 padded on the left) and the
    item the user liked next."""

    histories: np.ndarray  # (n, width) int64
    targets: np.ndarray  # (n,) int64

    @classmethod
    def build(cls, users: np.ndarray, items: np.ndarray, times: np.ndarray, width: int) -> NextItemExamples:
        order = np.lexsort((np.arange(len(users)), times, users))
        histories, targets = [], []
        bounds = np.flatnonzero(np.diff(users[order])) + 1
        for rows in np.split(order, bounds):
            sequence = items[rows]
            for t in range(1, len(sequence)):
                past = sequence[max(0, t - width):t]
                histories.append(np.concatenate([np.full(width - len(past), -1), past]))
                targets.append(sequence[t])
        return cls(np.array(histories, dtype=np.int64).reshape(-1, width), np.array(targets, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.targets)
