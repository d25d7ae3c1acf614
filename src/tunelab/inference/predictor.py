"""Predictor: load a finished run folder (safetensors only) and turn texts into typed predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunelab.artifacts.manifest import Manifest, load_manifest
from tunelab.errors import ArtifactError, UsageError
from tunelab.models.forward import predict_logits, tagging_length
from tunelab.tasks import Evaluation, auto_model_class, get_task, wrap_texts
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
        self.backend = "torch"
        self._torch: Any = None  # torch weights loaded for `features` when the backend is ONNX
        self._ood_stats: Any = None  # the run's out-of-distribution statistics, once asked for

    @classmethod
    def load(cls, run_dir: str | Path, *, precision: str = "fp32", backend: str = "torch",
             threads: int | None = None, spinning: bool = True, device: str = "auto") -> Predictor:
        """Load a run folder written by `tunelab train`; refuses unfinished runs and pickle weights.

        `backend`: "torch" (the safetensors weights), an exported artifact by name ("onnx-fp32",
        "onnx-int8", ...; see `tunelab export`), or "auto": the fastest artifact that passed the accuracy
        gate when it beats torch, else torch. `device`: "auto" (a CUDA GPU when torch sees one, else the CPU), "cpu"
        or "cuda" (the torch backend; exported ONNX artifacts run on the CPU)."""
        from tunelab.models.build import load_tokenizer, quiet_transformers
        from tunelab.models.resolve import force_offline

        force_offline()
        quiet_transformers()
        run_dir = Path(run_dir)
        manifest = load_manifest(run_dir)
        if precision not in ("fp32", "bf16"):
            raise UsageError("precision must be fp32 or bf16")
        choice = choose_backend(manifest, run_dir, precision) if backend == "auto" else backend
        if choice == "torch":
            if not (run_dir / "model.safetensors").is_file():
                raise ArtifactError(f"{run_dir} has no model.safetensors (TuneLab loads safetensors only)")
            device = _device(device)
            model = _load_model(run_dir, manifest.task).to(device)
        else:
            from tunelab.inference.onnx_model import OnnxModel

            path = run_dir / "artifacts" / choice / "model.onnx"
            if not path.is_file():
                raise ArtifactError(f"{run_dir} has no artifact {choice!r}",
                                    hint=f"create it with `tunelab export {run_dir}`")
            model = OnnxModel(path, threads=threads, spinning=spinning)
            precision, device = "fp32", "cpu"
        predictor = cls(run_dir, manifest, model, load_tokenizer(run_dir), Precision(device, precision))
        predictor.backend = choice
        return predictor

    @property
    def labels(self) -> list[str]:
        """Class names (NER: entity types)."""
        return list(self.task.display_labels(self.label_set.names))

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        """One prediction per text, in order."""
        texts = _check_texts(texts)
        examples = wrap_texts(self.task, list(texts), self.manifest.task_state)
        return self.predict_examples(examples, batch_size)

    def predict_examples(self, examples: Sequence[Example], batch_size: int = 32) -> list[Prediction]:
        return self._predict(examples, batch_size)[0]

    def predict_with_tokens(self, texts: Sequence[str], batch_size: int = 32) -> tuple[list[Prediction], list[int]]:
        """Predictions plus the number of tokens each text used (for usage metering)."""
        texts = _check_texts(texts)
        return self._predict(wrap_texts(self.task, list(texts), self.manifest.task_state), batch_size)

    def _predict(self, examples: Sequence[Example], batch_size: int) -> tuple[list[Prediction], list[int]]:
        encoded = self.task.encode(examples, self.tokenizer, self.label_set, self._max_length())
        logits = predict_logits(self.model, encoded, batch_size=batch_size, pad_id=self._pad_id(),
                                autocast=self.precision.autocast(), per_token=self.task.spec.per_token)
        predictions = self.task.decode(logits, encoded, examples, self.label_set, self.manifest.task_state)
        return predictions, [len(e) for e in encoded]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, float]]:
        """Class probabilities per text (classification and multi-label)."""
        if self.task.spec.per_token:
            raise UsageError("predict_proba is for classification models; use predict for entity spans")
        out = []
        for p in self.predict(texts, batch_size):
            out.append(dict(getattr(p, "probabilities", None) or getattr(p, "scores", {})))
        return out

    def features(self, texts: Sequence[str], batch_size: int = 32, pooling: str = "head") -> tuple[Any, Any]:
        """(pooled features (n, d), logits (n, classes)) of a classification model, as float32 numpy arrays: the
        inputs of the out-of-distribution scores; pooling "head" (the head's input) or "mean" (the last layer's
        token mean). An ONNX-backed predictor loads its torch weights for this."""
        from tunelab.inference.features import predict_features

        if not self.task.spec.single_label:
            raise UsageError("pooled features are for single-label classification models")
        texts = _check_texts(texts)
        encoded = self.task.encode(wrap_texts(self.task, list(texts)), self.tokenizer, self.label_set,
                                   self._max_length())
        return predict_features(self._torch_model(), encoded, batch_size=batch_size, pad_id=self._pad_id(),
                                autocast=self.precision.autocast(), pooling=pooling)

    def ood_scores(self, texts: Sequence[str], batch_size: int = 32) -> Any:
        """(n,) out-of-distribution scores: the Mahalanobis distance of each text's pooled features to the
        nearest training class (shared covariance). The statistics are fitted on the run's training data the
        first time and cached in the run folder (`ood_stats.safetensors` + `ood_stats.json`)."""
        from tunelab.inference.outliers import mahalanobis, run_stats

        if not self.task.spec.single_label:
            raise UsageError(f"out-of-distribution scores are for classification models, not {self.task.name}")
        if self._ood_stats is None:
            self._ood_stats = run_stats(self)
        features, _logits = self.features(texts, batch_size)
        return mahalanobis(self._ood_stats, features)

    def _torch_model(self) -> Any:
        if not getattr(self.model, "is_onnx", False):
            return self.model
        if self._torch is None:
            self._torch = _load_model(self.run_dir, self.manifest.task)
        return self._torch

    def evaluate(self, examples: Sequence[Example], batch_size: int = 64) -> Evaluation:
        """Score labelled examples with the run's labels and tuned thresholds."""
        encoded = self.task.encode(examples, self.tokenizer, self.label_set, self._max_length())
        return evaluate_examples(self.task, self.model, self.label_set, examples, encoded,
                                 pad_id=self._pad_id(), batch_size=batch_size,
                                 autocast=self.precision.autocast(), state=self.manifest.task_state)

    def _max_length(self) -> int:
        if self.task.spec.per_token:  # spans past the training length still get tags
            return tagging_length(self.model)
        return int(self.manifest.max_length)

    def _pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id or 0)


def choose_backend(manifest: Manifest, run_dir: Path, precision: str = "fp32") -> str:
    """The fastest artifact (throughput at batch 32 on the export machine) that passed the accuracy gate,
    if it beats the torch reference measured in the same export; else "torch". Without ONNX Runtime
    installed (the `tunelab[onnx]` extra) that is always "torch"."""
    from tunelab import extras

    if not extras.available("onnxruntime"):
        return "torch"
    cards = manifest.cards()
    reference = cards.get("torch")
    best, best_speed = "torch", (reference.throughput_b32_per_s or 0.0) if reference else 0.0
    for name, card in cards.items():
        if card is reference or not card.usable:
            continue
        if not (run_dir / "artifacts" / name / "model.onnx").is_file():
            continue
        speed = card.throughput_b32_per_s or 0.0
        if speed > best_speed:
            best, best_speed = name, speed
    return best


def _device(requested: str) -> str:
    import torch

    if requested not in ("auto", "cpu", "cuda"):
        raise UsageError(f"device must be auto, cpu or cuda, got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for but torch sees no CUDA GPU", hint="use --device auto or cpu")
    return "cuda" if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()) else "cpu"


def _check_texts(texts: Sequence[str]) -> Sequence[str]:
    if isinstance(texts, str):
        raise UsageError("predict takes a list of texts, not one string")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise UsageError(f"texts at positions {bad[:10]} are not strings")
    return texts


def _load_model(run_dir: Path, task: str) -> Any:
    from tunelab.models.heads import load_pretrained

    try:
        model = load_pretrained(auto_model_class(task), run_dir)  # plain from_pretrained, plus pruned attention heads
    except OSError as exc:
        raise ArtifactError(f"cannot load the model in {run_dir}: {exc}") from None
    model.eval()
    return model
