"""Run a task's model over examples and score them: the evaluation step shared by training and recipes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunelab.models.forward import predict_logits
from tunelab.tasks.base import Encoded, Evaluation, Task
from tunelab.types import Example, LabelSet


def evaluate_examples(task: Task, model: Any, labels: LabelSet, examples: Sequence[Example],
                      encoded: Sequence[Encoded], *, pad_id: int, batch_size: int = 64,
                      autocast: Any = None, state: dict[str, Any] | None = None,
                      tune: bool = False) -> Evaluation:
    """Forward pass over `encoded`, then the task's metrics against the examples' gold labels."""
    logits = predict_logits(model, encoded, batch_size=batch_size, pad_id=pad_id, autocast=autocast,
                            per_token=task.spec.per_token)
    return task.evaluate(logits, encoded, examples, labels, state or {}, tune=tune)
