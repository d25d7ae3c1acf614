"""Knowledge distillation as a task: the student's training targets carry the teacher's precomputed logits,
and the loss mixes the softened teacher match with the gold-label loss (the loop itself is unchanged).

    loss = alpha * KD(student / T, teacher / T) * T^2 + (1 - alpha) * task loss on the gold labels

KD is the KL divergence of softmaxes for classification and NER (per labelled word-piece, i.e. per word),
and binary cross-entropy against the teacher's sigmoid for multi-label. Unlabelled texts (`unlabelled_examples`)
train on the teacher term alone: their placeholder gold label is masked out of the task loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.errors import UsageError
from tunelab.tasks.base import IGNORE, Encoded, Evaluation, Task, loss_units
from tunelab.tasks.spec import get_spec
from tunelab.training.precision import Precision
from tunelab.types import Example, LabelSet, Prediction


@dataclass(frozen=True)
class KDSettings:
    """What a distilled run records about how it was taught."""

    alpha: float = 0.5
    """Weight of the teacher-matching term (1 - alpha goes to the gold labels)."""
    temperature: float = 2.0
    """Softmax temperature for both teacher and student logits."""

    def check(self) -> KDSettings:
        if not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"--alpha must be within [0, 1], not {self.alpha}")
        if self.temperature <= 0:
            raise UsageError(f"--temperature must be > 0, not {self.temperature}")
        return self


@dataclass(frozen=True)
class KDTarget:
    """One training example's target: the gold target and the teacher's logits (NER: one row per word)."""

    gold: Any
    teacher: np.ndarray
    labelled: bool = True  # False: an unlabelled text, its gold a placeholder the task loss must not see


@dataclass
class KDBatch:
    """Collated targets of one batch; `to(device)` like a tensor, so the loop moves it as it moves targets."""

    gold: Any
    teacher: Any  # (B, C), or (B, W, C) for NER
    mask: Any = None  # NER: (B, W) bool, the positions the teacher scored
    labelled: Any = None  # (B,) bool, the examples whose gold label is real (None: all of them)

    def to(self, device: Any) -> KDBatch:
        mask = self.mask.to(device) if self.mask is not None else None
        labelled = self.labelled.to(device) if self.labelled is not None else None
        return KDBatch(self.gold.to(device), self.teacher.to(device), mask, labelled)


def example_key(example: Example) -> Any:
    """A hashable identity of an example (text and labels/tags), so teacher logits find their example."""
    return (getattr(example, "text", None), getattr(example, "tokens", None), getattr(example, "labels", None),
            getattr(example, "tags", None))


def labelled_rows(logits: np.ndarray, encoded: Encoded) -> np.ndarray:
    """NER: the per-token logits at the positions that carry a label (each word's first word-piece)."""
    positions = [i for i, t in enumerate(encoded.target or []) if t != IGNORE and i < len(logits)]
    return logits[positions]


def teacher_logits(teacher: Any, examples: Sequence[Example], batch_size: int = 64, *,
                   precision: Precision | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> dict[Any, np.ndarray]:
    """One teacher forward pass over `examples` (a Predictor): its logits per example, per word for NER, in float32.
    `precision`: how the pass runs (default the Predictor's own). `on_progress(done, total)` is told after each
    batch how many of all the word pieces were scored (batches run longest first, so a count of texts would not
    say how much work is left)."""
    from tunelab.models.forward import predict_logits

    per_token = teacher.task.spec.per_token
    encoded = teacher.task.encode(examples, teacher.tokenizer, teacher.label_set, teacher._max_length())
    total, done = sum(len(e) for e in encoded), 0

    def scored(rows: list[int]) -> None:
        nonlocal done
        done += sum(len(encoded[i]) for i in rows)
        if on_progress is not None:
            on_progress(done, total)

    logits = predict_logits(teacher.model, encoded, batch_size=batch_size, pad_id=teacher._pad_id(),
                            autocast=(precision or teacher.precision).autocast(), per_token=per_token,
                            on_batch=scored)
    rows = [labelled_rows(x, e) if per_token else x for x, e in zip(logits, encoded)]
    return {example_key(ex): row.astype(np.float32) for ex, row in zip(examples, rows)}


def unlabelled_examples(task: Task, examples: Sequence[Example], labels: LabelSet,
                        state: dict[str, Any]) -> list[Example]:
    """Texts without labels in the shape the task encodes for training: NER sentences cut into words as the
    teacher's data was (a sentence already in words keeps them where it was cut the same way; tags all O), texts
    given the first label; the placeholder never reaches the loss (`DistillTask(..., unlabelled=...)`)."""
    from tunelab.types import TextExample, TokenExample

    split = str(state.get("word_split", "words"))
    out: list[Example] = []
    for example in examples:
        if task.spec.per_token:
            same_cut = isinstance(example, TokenExample) and example.split == split
            word = example if same_cut else task.wrap_text(example.text, state)
            out.append(replace(word, tags=tuple("O" for _ in word.tags), source=example.source))
        else:
            out.append(TextExample(example.text, (labels.names[0],), example.source))
    return out


class DistillTask:
    """The student's task: the base task for everything, with teacher logits in the training targets.
    `unlabelled`: the keys (`example_key`) of examples whose gold label is a placeholder."""

    def __init__(self, base: Task, table: dict[Any, np.ndarray], settings: KDSettings,
                 unlabelled: frozenset[Any] = frozenset()) -> None:
        self.base = base
        self.table = table
        self.unlabelled = unlabelled
        self.settings = settings.check()
        self.name = base.name
        self.metric_name = base.metric_name
        self.peft_task_type = base.peft_task_type
        self.spec = base.spec

    def build_labels(self, examples: Sequence[Example]) -> LabelSet:
        """The base task's labels (the recipe builds them from the training file's examples, never from the
        unlabelled texts, whose placeholder labels add none)."""
        return self.base.build_labels(examples)

    def encode(self, examples: Sequence[Example], tokenizer: Any, labels: LabelSet,
               max_length: int) -> list[Encoded]:
        encoded = self.base.encode(examples, tokenizer, labels, max_length)
        out = []
        for example, item in zip(examples, encoded):
            key = example_key(example)
            row = self.table.get(key)
            out.append(item if row is None or item.target is None
                       else replace(item, target=KDTarget(item.target, row, key not in self.unlabelled)))
        return out

    def build_model(self, path: Path, labels: LabelSet, dropout: float | None) -> Any:
        return self.base.build_model(path, labels, dropout)

    def collate_targets(self, batch: Sequence[Encoded], width: int) -> Any:
        if not all(isinstance(e.target, KDTarget) for e in batch):
            return self.base.collate_targets([_plain(e) for e in batch], width)
        import torch

        gold = self.base.collate_targets([_plain(e) for e in batch], width)
        flags = [e.target.labelled for e in batch]
        labelled = None if all(flags) else torch.tensor(flags, dtype=torch.bool)
        if self.spec.per_token:
            return replace(_collate_ner(batch, gold, width), labelled=labelled)
        return KDBatch(gold, torch.from_numpy(np.stack([e.target.teacher for e in batch])), labelled=labelled)

    def loss(self, logits: Any, targets: Any) -> Any:
        if not isinstance(targets, KDBatch):
            return self.base.loss(logits, targets)
        alpha, temperature = self.settings.alpha, self.settings.temperature
        soft = kd_loss(self.name, logits.float(), targets.teacher.float(), temperature, targets.mask)
        return alpha * soft + (1.0 - alpha) * self._gold_loss(logits, targets)

    def _gold_loss(self, logits: Any, targets: KDBatch) -> Any:
        """The task loss on the real labels; an unlabelled example's placeholder counts as a zero loss (its units
        still count in the mean, as the loop counts them when it splits a batch: the split changes nothing)."""
        rows = targets.labelled
        if rows is None:
            return self.base.loss(logits, targets.gold)
        if not bool(rows.any()):
            return logits.new_zeros(())
        kept = targets.gold[rows]
        share = loss_units(kept) / max(loss_units(targets.gold), 1)
        return self.base.loss(logits[rows], kept) * share

    def reading_state(self, examples: Sequence[Example]) -> dict[str, Any]:
        return self.base.reading_state(examples)

    def decode(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
               labels: LabelSet, state: dict[str, Any]) -> list[Prediction]:
        return self.base.decode(logits, [_plain(e) for e in encoded], examples, labels, state)

    def evaluate(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
                 labels: LabelSet, state: dict[str, Any], tune: bool = False) -> Evaluation:
        return self.base.evaluate(logits, [_plain(e) for e in encoded], examples, labels, state, tune=tune)


def _plain(item: Encoded) -> Encoded:
    return replace(item, target=item.target.gold) if isinstance(item.target, KDTarget) else item


def _collate_ner(batch: Sequence[Encoded], gold: Any, width: int) -> KDBatch:
    """Teacher rows go to the student's labelled positions in order (tokenizers may differ; words do not)."""
    import torch

    classes = batch[0].target.teacher.shape[-1]
    teacher = torch.zeros((len(batch), width, classes))
    mask = torch.zeros((len(batch), width), dtype=torch.bool)
    for row, item in enumerate(batch):
        positions = [i for i, t in enumerate(item.target.gold) if t != IGNORE]
        rows = item.target.teacher
        count = min(len(positions), len(rows))
        if count:
            index = torch.tensor(positions[:count])
            teacher[row, index] = torch.from_numpy(rows[:count])
            mask[row, index] = True
    return KDBatch(gold, teacher, mask)


def kd_loss(task: str, student: Any, teacher: Any, temperature: float, mask: Any = None) -> Any:
    """The teacher-matching term, scaled by T^2 so its gradients keep their size as T changes
    (per-label sigmoids for a multi-label task, a softmax over classes otherwise)."""
    import torch
    import torch.nn.functional as F

    t = temperature
    if get_spec(task).multi_label:
        soft = F.binary_cross_entropy_with_logits(student / t, torch.sigmoid(teacher / t))
        return soft * t * t
    log_p = F.log_softmax(student / t, dim=-1)
    log_q = F.log_softmax(teacher / t, dim=-1)
    per_item = (log_q.exp() * (log_q - log_p)).sum(dim=-1)  # KL(teacher || student) per example / token
    if mask is not None:
        per_item = per_item[mask]
        if per_item.numel() == 0:
            return student.sum() * 0.0
    return per_item.mean() * t * t
