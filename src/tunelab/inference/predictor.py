"""Predictor: load a finished run folder (safetensors only) and turn texts into typed predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunelab.artifacts.manifest import Manifest, load_manifest
from tunelab.errors import ArtifactError, UsageError
from tunelab.models.forward import predict_logits
from tunelab.tasks import Evaluation, get_task, wrap_texts
from tunelab.tasks.run import evaluate_examples
from tunelab.training.precision import Precision
from tunelab.types import Example, LabelSet, Prediction


class Predictor:
    """A loaded model: `predict(texts)`, `predict_proba(texts)`, `evaluate(examples)`, `labels`."""

    def __init__(self, run_dir: Path, manifest: Manifest, model: Any, tokenizer: Any,
                 precision: Precision) -> None:
        self.run_dir = run_dir
        self.manifest = manifest
        self.model = model
        self.tokenizer = tokenizer
        self.precision = precision
        self.task = get_task(manifest.task)
        self.label_set = LabelSet(tuple(manifest.labels))

    @classmethod
    def load(cls, run_dir: str | Path, *, precision: str = "fp32") -> Predictor:
        """Load a run folder written by `tunelab train`; refuses unfinished runs and pickle weights."""
        from tunelab.models.build import load_tokenizer, quiet_transformers
        from tunelab.models.resolve import force_offline

        force_offline()
        quiet_transformers()
        run_dir = Path(run_dir)
        manifest = load_manifest(run_dir)
        if not (run_dir / "model.safetensors").is_file():
            raise ArtifactError(f"{run_dir} has no model.safetensors (TuneLab loads safetensors only)")
        model = _load_model(run_dir, manifest.task)
        if precision not in ("fp32", "bf16"):
            raise UsageError("precision must be fp32 or bf16")
        return cls(run_dir, manifest, model, load_tokenizer(run_dir), Precision("cpu", precision))

    @property
    def labels(self) -> list[str]:
        """Class names (NER: entity types)."""
        if self.task.name == "ner":
            return sorted({n[2:] for n in self.label_set.names if n != "O"})
        return list(self.label_set.names)

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        """One prediction per text, in order."""
        texts = _check_texts(texts)
        examples = wrap_texts(self.task, list(texts))
        return self.predict_examples(examples, batch_size)

    def predict_examples(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        encoded = self.task.encode(examples, self.tokenizer, self.label_set, self._max_length())
        logits = predict_logits(self.model, encoded, batch_size=batch_size, pad_id=self._pad_id(),
                                autocast=self.precision.autocast(), per_token=self.task.name == "ner")
        return self.task.decode(logits, encoded, examples, self.label_set, self.manifest.task_state)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, float]]:
        """Class probabilities per text (classification and multi-label)."""
        if self.task.name == "ner":
            raise UsageError("predict_proba is for classification models; use predict for NER spans")
        out = []
        for p in self.predict(texts, batch_size):
            out.append(dict(getattr(p, "probabilities", None) or getattr(p, "scores", {})))
        return out

    def evaluate(self, examples: Sequence[Example], batch_size: int = 64) -> Evaluation:
        """Score labelled examples with the run's labels and tuned thresholds."""
        encoded = self.task.encode(examples, self.tokenizer, self.label_set, self._max_length())
        return evaluate_examples(self.task, self.model, self.label_set, examples, encoded,
                                 pad_id=self._pad_id(), batch_size=batch_size,
                                 autocast=self.precision.autocast(), state=self.manifest.task_state)

    def _max_length(self) -> int:
        if self.task.name == "ner":  # spans past the training length still get tags
            return int(min(512, getattr(self.model.config, "max_position_embeddings", 512)))
        return int(self.manifest.max_length)

    def _pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id or 0)


def _check_texts(texts: Sequence[str]) -> Sequence[str]:
    if isinstance(texts, str):
        raise UsageError("predict takes a list of texts, not one string")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise UsageError(f"texts at positions {bad[:10]} are not strings")
    return texts


def _load_model(run_dir: Path, task: str) -> Any:
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    auto = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    try:
        model = auto.from_pretrained(str(run_dir), use_safetensors=True)
    except OSError as exc:
        raise ArtifactError(f"cannot load the model in {run_dir}: {exc}") from None
    model.eval()
    return model
