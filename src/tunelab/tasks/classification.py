"""Single-label text classification (sentiment, topic, intent): softmax head, cross-entropy, accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.errors import UsageError
from tunelab.tasks.base import Encoded, Evaluation, check_known, softmax
from tunelab.tasks.spec import CLASSIFICATION
from tunelab.types import ClassPrediction, Example, LabelSet, Prediction, TextExample


def encode_texts(examples: Sequence[Example], tokenizer: Any, max_length: int) -> list[list[int]]:
    from tunelab.models.fast_encode import encode_ids

    return encode_ids(tokenizer, [e.text for e in examples], max_length)


class ClassificationTask:
    """One label per text."""

    name = "classification"
    metric_name = "accuracy"
    peft_task_type = "SEQ_CLS"
    spec = CLASSIFICATION

    def build_labels(self, examples: Sequence[Example]) -> LabelSet:
        return LabelSet(tuple(sorted({e.label for e in examples if isinstance(e, TextExample)})))

    def encode(self, examples: Sequence[Example], tokenizer: Any, labels: LabelSet,
               max_length: int) -> list[Encoded]:
        index = {name: i for i, name in enumerate(labels.names)}
        ids = encode_texts(examples, tokenizer, max_length)
        return [Encoded(i, index.get(e.labels[0]) if e.labels else None) for i, e in zip(ids, examples)]

    def build_model(self, path: Path, labels: LabelSet, dropout: float | None) -> Any:
        from transformers import AutoModelForSequenceClassification

        from tunelab.models.build import build_model

        return build_model(AutoModelForSequenceClassification, path, labels.names, dropout=dropout,
                           problem_type="single_label_classification")

    def collate_targets(self, batch: Sequence[Encoded], width: int) -> Any:
        import torch

        return torch.tensor([e.target for e in batch], dtype=torch.long)

    def loss(self, logits: Any, targets: Any) -> Any:
        import torch

        return torch.nn.functional.cross_entropy(logits.float(), targets)

    def decode(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
               labels: LabelSet, state: dict[str, Any]) -> list[Prediction]:
        probs = softmax(np.stack(logits)) if logits else np.zeros((0, len(labels)))
        out: list[Prediction] = []
        for row in probs:
            best = int(row.argmax())
            values = row.tolist()  # Python floats at once, not one numpy scalar at a time
            out.append(ClassPrediction(labels.names[best], values[best], dict(zip(labels.names, values))))
        return out

    def evaluate(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
                 labels: LabelSet, state: dict[str, Any], tune: bool = False) -> Evaluation:
        from tunelab.evaluation.metrics import classification_report, expected_calibration_error, reliability_bins

        predictions = self.decode(logits, encoded, examples, labels, state)
        gold = [e.labels[0] for e in examples]  # type: ignore[union-attr]
        pred = [p.label for p in predictions]  # type: ignore[union-attr]
        report = classification_report(gold, pred, list(labels.names))
        confidence = np.array([p.score for p in predictions])  # type: ignore[union-attr]
        correct = np.array([g == p for g, p in zip(gold, pred)], dtype=float)
        ece = expected_calibration_error(confidence, correct)
        result = report.to_dict()
        result["ece"] = round(float(ece), 6)
        extra = {"reliability": reliability_bins(confidence, correct), "ece": ece,
                 "confusion": report.confusion_matrix}
        return Evaluation("accuracy", float(report.accuracy), result, predictions, extra)

    def wrap_text(self, text: str, state: Mapping[str, Any] | None = None) -> Example:
        return TextExample(text)

    def reading_state(self, examples: Sequence[Example]) -> dict[str, Any]:
        return {}

    def display_labels(self, names: Sequence[str]) -> tuple[str, ...]:
        return tuple(names)

    def read_output(self, output: Mapping[str, Any]) -> Prediction:
        if not isinstance(output.get("label"), str):
            raise UsageError("not a classification output: it has no `label`")
        score = output.get("score")
        return ClassPrediction(output["label"], float(score) if score is not None else float("nan"),
                               dict(output.get("probabilities") or {}))

    def top_score(self, prediction: Prediction) -> float | None:
        score = getattr(prediction, "score", None)
        return None if score is None or score != score else float(score)

    def read_feedback(self, label: Any) -> Any:
        if not isinstance(label, str):
            raise UsageError("this is a classification prediction: feedback `label` must be one label name")
        return label

    def feedback_label_names(self, label: Any) -> set[str]:
        return {self.read_feedback(label)}

    def feedback_agrees(self, prediction: Prediction, label: Any) -> bool:
        return getattr(prediction, "label", None) == self.read_feedback(label)

    def parse_typed_label(self, raw: str, text: str | None, labels: Sequence[str]) -> Any:
        check_known([raw.strip()], labels)
        return raw.strip()
