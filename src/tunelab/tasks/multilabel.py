"""Multi-label classification: one sigmoid per label, BCE loss, per-label thresholds tuned on dev."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.errors import UsageError
from tunelab.tasks.base import Encoded, Evaluation, check_known, sigmoid
from tunelab.tasks.classification import encode_texts
from tunelab.tasks.spec import MULTILABEL
from tunelab.types import Example, LabelSet, MultiLabelPrediction, Prediction, TextExample


class MultiLabelTask:
    """Zero or more labels per text."""

    name = "multilabel"
    metric_name = "micro_f1"
    peft_task_type = "SEQ_CLS"
    spec = MULTILABEL

    def build_labels(self, examples: Sequence[Example]) -> LabelSet:
        return LabelSet(tuple(sorted({x for e in examples if isinstance(e, TextExample) for x in e.labels})))

    def encode(self, examples: Sequence[Example], tokenizer: Any, labels: LabelSet,
               max_length: int) -> list[Encoded]:
        index = {name: i for i, name in enumerate(labels.names)}
        out = []
        for ids, example in zip(encode_texts(examples, tokenizer, max_length), examples):
            hot = [0.0] * len(labels)
            for label in example.labels:  # type: ignore[union-attr]
                if label in index:
                    hot[index[label]] = 1.0
            out.append(Encoded(ids, hot))
        return out

    def build_model(self, path: Path, labels: LabelSet, dropout: float | None) -> Any:
        from transformers import AutoModelForSequenceClassification

        from tunelab.models.build import build_model

        return build_model(AutoModelForSequenceClassification, path, labels.names, dropout=dropout,
                           problem_type="multi_label_classification")

    def collate_targets(self, batch: Sequence[Encoded], width: int) -> Any:
        import torch

        return torch.tensor([e.target for e in batch], dtype=torch.float32)

    def loss(self, logits: Any, targets: Any) -> Any:
        import torch

        return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)

    def decode(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
               labels: LabelSet, state: dict[str, Any]) -> list[Prediction]:
        thresholds = np.asarray(state.get("thresholds") or [0.5] * len(labels))
        probs = sigmoid(np.stack(logits)) if logits else np.zeros((0, len(labels)))
        out: list[Prediction] = []
        for row in probs:
            chosen = tuple(n for n, p, t in zip(labels.names, row, thresholds) if p >= t)
            out.append(MultiLabelPrediction(chosen, {n: float(p) for n, p in zip(labels.names, row)}))
        return out

    def evaluate(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
                 labels: LabelSet, state: dict[str, Any], tune: bool = False) -> Evaluation:
        from tunelab.evaluation.metrics import multilabel_report, tune_thresholds

        state = dict(state)
        if tune and logits:
            gold_matrix = np.array([e.target for e in encoded])
            state["thresholds"] = [float(t) for t in tune_thresholds(sigmoid(np.stack(logits)), gold_matrix)]
        predictions = self.decode(logits, encoded, examples, labels, state)
        gold = [set(e.labels) for e in examples]  # type: ignore[union-attr]
        pred = [set(p.labels) for p in predictions]  # type: ignore[union-attr]
        report = multilabel_report(gold, pred, list(labels.names))
        result = report.to_dict()
        extra = {"thresholds": state.get("thresholds") or [0.5] * len(labels)}
        result["thresholds"] = dict(zip(labels.names, extra["thresholds"]))
        return Evaluation("micro_f1", float(report.headline[1]), result, predictions, extra)

    def wrap_text(self, text: str, state: Mapping[str, Any] | None = None) -> Example:
        return TextExample(text)

    def reading_state(self, examples: Sequence[Example]) -> dict[str, Any]:
        return {}

    def display_labels(self, names: Sequence[str]) -> tuple[str, ...]:
        return tuple(names)

    def read_output(self, output: Mapping[str, Any]) -> Prediction:
        labels = output.get("labels")
        if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
            raise UsageError("not a multi-label output: it has no `labels` list")
        return MultiLabelPrediction(tuple(labels), {str(k): float(v) for k, v in (output.get("scores") or {}).items()})

    def top_score(self, prediction: Prediction) -> float | None:
        scores = getattr(prediction, "scores", None)
        return float(max(scores.values())) if scores else None

    def read_feedback(self, label: Any) -> Any:
        given = [label] if isinstance(label, str) else label
        if not isinstance(given, list) or not all(isinstance(x, str) for x in given):
            raise UsageError("this is a multi-label prediction: feedback `label` must be a list of label names")
        return frozenset(given)

    def feedback_label_names(self, label: Any) -> set[str]:
        return set(self.read_feedback(label))

    def feedback_agrees(self, prediction: Prediction, label: Any) -> bool:
        return frozenset(getattr(prediction, "labels", ())) == self.read_feedback(label)

    def parse_typed_label(self, raw: str, text: str | None, labels: Sequence[str]) -> Any:
        """Labels separated by commas."""
        chosen = [x.strip() for x in raw.split(",") if x.strip()]
        check_known(chosen, labels)
        return chosen
