"""The NER detectors: person, organisation and location names from TuneLab NER runs (CoNLL-2003 recipes in
docs/security.md), one model or an English one and a multilingual one chosen per text by its script."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tunelab.errors import UsageError
from tunelab.privacy.findings import NER_TYPES, Finding

# Entity labels of common NER sets -> our types (CoNLL-2003: PER ORG LOC MISC; OntoNotes: PERSON ORG GPE LOC ...).
ENTITY_TYPES = {"PER": "person", "PERSON": "person", "ORG": "organisation", "LOC": "location", "GPE": "location",
                "人名": "person", "地名": "location", "机构名": "organisation"}


class NerDetector:
    """Wraps a loaded Predictor of an NER run; entity labels outside ENTITY_TYPES (MISC) are ignored."""

    types = NER_TYPES

    def __init__(self, predictor: Any, *, min_score: float = 0.0, batch_size: int = 32) -> None:
        mapped = [label for label in predictor.labels if label.upper() in ENTITY_TYPES or label in ENTITY_TYPES]
        if not mapped:
            raise UsageError(f"the model's labels ({', '.join(predictor.labels) or 'none'}) include no person, "
                             "organisation or location entity (PER, ORG, LOC)",
                             hint="pass the run folder of an NER model trained on such labels (e.g. CoNLL-2003)")
        self.predictor = predictor
        self.min_score = min_score
        self.batch_size = batch_size

    @classmethod
    def load(cls, run: str | Path, **options: Any) -> NerDetector:
        from tunelab.inference import Predictor

        predictor = Predictor.load(run)
        if not predictor.task.spec.per_token:
            raise UsageError(f"{run} is not an NER run (its task is {predictor.manifest.task})",
                             hint="train one with `tunelab train --task ner --data ...` (docs/security.md)")
        return cls(predictor, **options)

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        found: list[list[Finding]] = [[] for _ in texts]
        todo = [i for i, text in enumerate(texts) if text.strip()]  # the predictor refuses empty texts
        predictions = self.predictor.predict([texts[i] for i in todo], batch_size=self.batch_size) if todo else []
        for i, prediction in zip(todo, predictions):
            for span in getattr(prediction, "spans", ()):
                kind = ENTITY_TYPES.get(span.label) or ENTITY_TYPES.get(span.label.upper())
                score = 1.0 if span.score is None else float(span.score)
                if kind is not None and score >= self.min_score:
                    found[i].append(Finding(kind, span.start, span.end, score, "ner"))
        return found


@lru_cache(maxsize=4096)
def _is_latin_letter(char: str) -> bool:
    return char.isascii() or unicodedata.name(char, "").startswith("LATIN")


def needs_multilingual(text: str) -> bool:
    """True when `text` has a letter outside the Latin script (Chinese, Japanese, Cyrillic, Arabic...): an
    English-only encoder cannot read it, so its names go to the multilingual model."""
    return any(char.isalpha() and not _is_latin_letter(char) for char in text)


@dataclass(frozen=True)
class ScriptRoutedNer:
    """Two NER detectors, one per text: texts with letters outside the Latin script go to `multilingual`, the
    rest to `latin` (an English model, which is the better one on English text)."""

    latin: Any  # a Detector (tunelab.privacy.redactor): find_many(texts) -> findings per text
    multilingual: Any
    types = NER_TYPES

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        found: list[list[Finding]] = [[] for _ in texts]
        other = [needs_multilingual(text) for text in texts]
        for detector, wanted in ((self.latin, False), (self.multilingual, True)):
            picked = [i for i, flag in enumerate(other) if flag is wanted]
            if picked:
                for i, findings in zip(picked, detector.find_many([texts[i] for i in picked])):
                    found[i] = findings
        return found


def load_ner(ner_model: str | Path | None, multilingual: str | Path | None = None) -> Any:
    """The NER detector of the given run folders: None without any, one model alone, or both routed by script
    (ScriptRoutedNer). A multilingual run alone handles every text."""
    english = NerDetector.load(ner_model) if ner_model else None
    other = NerDetector.load(multilingual) if multilingual else None
    if english is not None and other is not None:
        return ScriptRoutedNer(english, other)
    return english or other
