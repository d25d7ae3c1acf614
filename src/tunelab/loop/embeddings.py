"""What the loop reads from a model for a list of texts: unit sentence embeddings, class probabilities, token counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.errors import UsageError


@dataclass(frozen=True)
class TextFeatures:
    """Per text: the pooled sentence embedding (unit length), the class probabilities, the number of tokens
    (special tokens left out) and how many of them are the unknown token."""

    embeddings: np.ndarray  # (n, d) float32
    probabilities: np.ndarray  # (n, classes) float32, in the model's label order
    tokens: np.ndarray  # (n,) int
    unknown: np.ndarray  # (n,) int

    @property
    def top(self) -> np.ndarray:
        """(n,) the winning class's probability."""
        return self.probabilities.max(1) if len(self.probabilities) else np.zeros(0, dtype=np.float32)

    @property
    def predicted(self) -> np.ndarray:
        """(n,) index of the winning class."""
        return self.probabilities.argmax(1) if len(self.probabilities) else np.zeros(0, dtype=np.int64)


def require_single_label(predictor: Any) -> None:
    if not predictor.task.spec.single_label:
        raise UsageError(f"drift checks and label suggestions are for single-label classification models, "
                         f"not {predictor.task.name}")


def text_features(predictor: Any, texts: Sequence[str], batch_size: int = 32) -> TextFeatures:
    """One forward pass per batch (`Predictor.features`) plus the tokenizer's counts."""
    require_single_label(predictor)
    features, logits = predictor.features(list(texts), batch_size)
    tokens, unknown = token_counts(predictor.tokenizer, texts)
    return TextFeatures(unit_rows(features), softmax(logits), tokens, unknown)


def token_counts(tokenizer: Any, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(tokens per text, unknown tokens per text), without special tokens and without truncation."""
    unk = tokenizer.unk_token_id
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
    tokens = np.array([len(row) for row in ids], dtype=np.int64)
    unknown = np.array([sum(1 for i in row if unk is not None and i == unk) for row in ids], dtype=np.int64)
    return tokens, unknown


def softmax(logits: np.ndarray) -> np.ndarray:
    if logits.size == 0:
        return logits.astype(np.float32)
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return (shifted / shifted.sum(1, keepdims=True)).astype(np.float32)


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
