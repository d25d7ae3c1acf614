"""Classify news items: sentiment (label and a score in [-1, 1]), optional topic, optional NER entities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tunelab.apps.monitor.config import NEGATIVE_NAMES, POSITIVE_NAMES, ModelSpec, MonitorConfig
from tunelab.apps.monitor.events import normalise_key
from tunelab.errors import ConfigError, UsageError
from tunelab.inference.loader import ModelLoader
from tunelab.paths import check_under


@dataclass(frozen=True)
class Classified:
    label: str
    score: float  # P(positive) - P(negative)
    negative: bool
    positive: bool
    topic: str | None = None
    entities: tuple[str, ...] = ()


class Classifier(Protocol):
    def classify(self, texts: Sequence[str]) -> list[Classified]: ...


def resolve_model_path(spec: ModelSpec, base_dir: str | Path, store: Any | None, where: str,
                       roots: tuple[str, ...] | None = None) -> Path:
    """A run folder (absolute or relative to the config file) or a registered model `name[@version|@alias]`.
    `roots`: the folders run folders must lie in (symlinks resolved; empty: none, registered models only);
    None: anywhere (the operator's own CLI)."""
    folder = Path(spec.model)
    if not folder.is_absolute():
        folder = Path(base_dir) / folder
    if roots is not None and _looks_like_path(spec.model):  # checked before the disk is even looked at
        try:
            folder = check_under(folder, roots, what=f"{where}.model")
        except UsageError as exc:
            raise ConfigError(exc.message, hint=exc.hint) from None
    if (folder / "manifest.json").is_file() and (roots is None or _looks_like_path(spec.model)):
        return folder
    from tunelab.registry.names import parse_ref

    try:
        ref = parse_ref(spec.model)
    except ValueError:
        raise ConfigError(f"{where}.model: {spec.model!r} is neither a finished run folder nor a model name") from None
    if store is None:
        raise ConfigError(f"{where}.model: {spec.model!r} is not a run folder, and no registry was given to look it up")
    return Path(store.resolve(ref).run_path)


def _looks_like_path(model: str) -> bool:
    """Not a registry name (`name`, `name@alias`, `name@3`): names have no `/`, `\\` or leading `.` or `~`."""
    return any(c in model for c in "/\\\x00") or model.startswith((".", "~"))


def sentiment_labels(spec: ModelSpec, labels: Sequence[str], where: str) -> tuple[set[str], set[str]]:
    """The model's negative and positive labels: as configured (checked against the model), else by name."""
    known = set(labels)
    negative = set(spec.negative_labels) or {x for x in labels if x.lower() in NEGATIVE_NAMES}
    positive = set(spec.positive_labels) or {x for x in labels if x.lower() in POSITIVE_NAMES}
    unknown = (negative | positive) - known
    if unknown:
        raise ConfigError(f"{where}: labels {sorted(unknown)} are not labels of the model ({sorted(known)})")
    if not negative:
        raise ConfigError(f"{where}.negative_labels: none of the model's labels {sorted(known)} reads as negative",
                          hint="name them, e.g. `negative_labels: [bearish]`")
    if negative & positive:
        raise ConfigError(f"{where}: labels {sorted(negative & positive)} are both negative and positive")
    return negative, positive


class ModelClassifier:
    """The configured models, loaded once (safetensors run folders through `Predictor`)."""

    def __init__(self, sentiment: Any, negative: set[str], positive: set[str], topics: Any = None, ner: Any = None,
                 entity_types: Sequence[str] = (), batch_size: int = 32) -> None:
        self.sentiment, self.negative, self.positive = sentiment, negative, positive
        self.topics, self.ner, self.entity_types = topics, ner, set(entity_types)
        self.batch_size = batch_size

    @classmethod
    def load(cls, config: MonitorConfig, store: Any | None = None,
             *, model_roots: tuple[str, ...] | None = None, loader: ModelLoader | None = None) -> ModelClassifier:
        """`loader` loads each run folder (the server passes its shared model cache)."""
        from tunelab.inference import Predictor

        load_model = loader or Predictor.load

        def path(spec: ModelSpec, where: str) -> Path:
            return resolve_model_path(spec, config.base_dir, store, where, model_roots)

        sentiment = load_model(path(config.sentiment, "sentiment"))
        if not sentiment.task.spec.single_label:
            raise ConfigError(f"sentiment.model: {config.sentiment.model!r} is a {sentiment.task.name} model; "
                              "sentiment needs a single-label classification run")
        negative, positive = sentiment_labels(config.sentiment, sentiment.labels, "sentiment")
        topics = ner = None
        if config.topics is not None:
            topics = load_model(path(config.topics, "topics"))
        if config.entities is not None:
            ner = load_model(path(config.entities, "entities"))
            if not ner.task.spec.per_token:
                raise ConfigError(f"entities.model: {config.entities.model!r} is a {ner.task.name} model, "
                                  "not an NER run")
        types = config.entities.types if config.entities else ()
        return cls(sentiment, negative, positive, topics, ner, types)

    def classify(self, texts: Sequence[str]) -> list[Classified]:
        if not texts:
            return []
        predictions = self.sentiment.predict(list(texts), batch_size=self.batch_size)
        topics = self.topics.predict(list(texts), self.batch_size) if self.topics is not None else [None] * len(texts)
        spans = self.ner.predict(list(texts), self.batch_size) if self.ner is not None else [None] * len(texts)
        out = []
        for prediction, topic, found in zip(predictions, topics, spans):
            probs = prediction.probabilities
            score = sum(probs.get(x, 0.0) for x in self.positive) - sum(probs.get(x, 0.0) for x in self.negative)
            out.append(Classified(prediction.label, max(-1.0, min(1.0, float(score))),
                                  prediction.label in self.negative, prediction.label in self.positive,
                                  _topic(topic), self._entities(found)))
        return out

    def _entities(self, found: Any) -> tuple[str, ...]:
        if found is None:
            return ()
        names = (normalise_key(s.text) for s in found.spans if not self.entity_types or s.label in self.entity_types)
        return tuple(dict.fromkeys(n for n in names if n))


def _topic(prediction: Any) -> str | None:
    if prediction is None:
        return None
    label = getattr(prediction, "label", None)
    if label is None and getattr(prediction, "labels", None):  # a multi-label topic model: the first label
        label = prediction.labels[0]
    return None if label is None else str(label)[:128]
