"""What every task provides to the training loop and the predictor: a Protocol plus shared batching."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tunelab.errors import UsageError
from tunelab.tasks.spec import TaskSpec
from tunelab.types import Example, LabelSet, Prediction

IGNORE = -100


@dataclass
class Encoded:
    """One example as model input: token ids, its training target, and word alignment (NER)."""

    input_ids: list[int]
    target: Any = None  # int (class), list[float] (multi-hot) or list[int] per token (IGNORE = skip)
    word_ids: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Evaluation:
    """A task's evaluation of one split: the headline metric, the full report and the predictions."""

    metric_name: str
    metric: float
    report: dict[str, Any]
    predictions: list[Prediction]
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. confidences, tuned thresholds


class Task(Protocol):
    """A task: labels, encoding, the model head, the loss, decoding and metrics; and everything else that
    differs between tasks (its `spec` facts, display, outputs, feedback), so no caller compares its name."""

    name: str
    metric_name: str
    peft_task_type: str
    spec: TaskSpec

    def wrap_text(self, text: str, state: Mapping[str, Any] | None = None) -> Example:
        """An unlabelled example for a raw text, in the shape `encode` takes; `state` is the run's task state
        (NER cuts raw text into words the way its training data was cut)."""
        ...

    def reading_state(self, examples: Sequence[Example]) -> dict[str, Any]:
        """What prediction must repeat of how the training examples were read (saved in the task state)."""
        ...

    def display_labels(self, names: Sequence[str]) -> tuple[str, ...]:
        """The labels people see and type (NER: entity types, not IOB2 tags)."""
        ...

    def read_output(self, output: Mapping[str, Any]) -> Prediction:
        """A prediction back from its stored JSON form; UsageError when `output` is not this task's shape."""
        ...

    def top_score(self, prediction: Prediction) -> float | None:
        """The confidence a review queue sorts by (None when there is nothing to be confident about)."""
        ...

    def read_feedback(self, label: Any) -> Any:
        """A feedback label (JSON) normalised for comparison; UsageError naming the shape it must have."""
        ...

    def feedback_label_names(self, label: Any) -> set[str]:
        """The label names a feedback label uses (checked against the model's `display_labels`)."""
        ...

    def feedback_agrees(self, prediction: Prediction, label: Any) -> bool:
        """Does the corrected `label` say the prediction was right? (A/B accuracy counts this.)"""
        ...

    def parse_typed_label(self, raw: str, text: str | None, labels: Sequence[str]) -> Any:
        """A reviewer's typed correction (a form field) as the feedback API takes it; `labels` are display labels."""
        ...

    def build_labels(self, examples: Sequence[Example]) -> LabelSet: ...

    def encode(self, examples: Sequence[Example], tokenizer: Any, labels: LabelSet,
               max_length: int) -> list[Encoded]: ...

    def build_model(self, path: Path, labels: LabelSet, dropout: float | None) -> Any: ...

    def loss(self, logits: Any, targets: Any) -> Any: ...

    def collate_targets(self, batch: Sequence[Encoded], width: int) -> Any: ...

    def decode(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
               labels: LabelSet, state: dict[str, Any]) -> list[Prediction]: ...

    def evaluate(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
                 labels: LabelSet, state: dict[str, Any], tune: bool = False) -> Evaluation: ...


def collate(task: Task, batch: Sequence[Encoded], pad_id: int, with_targets: bool = True) -> dict[str, Any]:
    """Pad a batch to its own longest sequence (dynamic padding) and stack the targets."""
    import torch

    width = max(len(e) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        ids[row, : len(example)] = torch.tensor(example.input_ids, dtype=torch.long)
        mask[row, : len(example)] = 1
    out: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    if with_targets:
        out["targets"] = task.collate_targets(batch, width)
    return out


def loss_units(targets: Any) -> int:
    """What a task's mean loss averages over: scored tokens for token tags (ignored positions excluded), else rows.
    Micro-batch losses weighted by their share of these add up to the whole batch's mean. Targets that carry more
    than labels (distillation's gold and teacher logits) are counted by their `gold` labels."""
    import torch

    targets = getattr(targets, "gold", targets)
    if targets.dtype == torch.long and targets.dim() == 2:
        return int((targets != IGNORE).sum())
    return int(targets.shape[0])


def check_known(chosen: Sequence[str], labels: Sequence[str]) -> None:
    """A UsageError naming the labels in `chosen` the model does not know."""
    unknown = [x for x in chosen if x not in labels]
    if unknown:
        raise UsageError(f"unknown label{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
                         hint=f"the model knows: {', '.join(labels)}")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))
