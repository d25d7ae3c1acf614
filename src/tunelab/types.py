"""Frozen dataclasses that cross module boundaries: examples, spans, splits, label sets, predictions."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """Where an example came from: file and 1-based line (CSV: the record's first line)."""

    path: str
    line: int


@dataclass(frozen=True)
class TextExample:
    """A text with its labels: one label for classification, zero or more for multi-label.

    `labels` is empty for unlabelled input (prediction)."""

    text: str
    labels: tuple[str, ...] = ()
    source: Source | None = None

    @property
    def label(self) -> str:
        return self.labels[0]


@dataclass(frozen=True)
class Span:
    """A labelled character span [start, end) in a text."""

    start: int
    end: int
    label: str
    text: str = ""
    score: float | None = None


@dataclass(frozen=True)
class TokenExample:
    """A sentence as words with one IOB2 tag per word (normalised on reading).

    `text` is the sentence the words came from; `offsets` gives each word's [start, end)
    in it (CoNLL input: the words joined by single spaces; character-level CoNLL: joined as they are).
    `split` says how the words were cut: "words" (letter and digit runs; each CJK character and
    punctuation mark alone) or "chars" (every character alone); prediction cuts raw text the same way."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    text: str
    offsets: tuple[tuple[int, int], ...]
    source: Source | None = None
    split: str = "words"


Example = TextExample | TokenExample


@dataclass(frozen=True)
class Split:
    """One named split (train, dev, test) and where it came from."""

    name: str
    examples: tuple[Example, ...]
    path: str | None = None  # None when carved out of another file

    def __len__(self) -> int:
        return len(self.examples)


@dataclass(frozen=True)
class DatasetBundle:
    """Validated splits ready for a task, plus the warnings raised while reading."""

    task: str
    train: Split
    dev: Split | None
    test: Split | None
    warnings: tuple[str, ...] = ()
    split_note: str = ""  # how dev/test were obtained (given, or a seeded stratified split)
    fingerprint: str = ""  # sha256 over the input files' bytes


@dataclass(frozen=True)
class LabelSet:
    """The ordered label names of a model head (for NER: the IOB2 tag names)."""

    names: tuple[str, ...]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class ClassPrediction:
    """Single-label output: the winning label, its probability, and all probabilities."""

    label: str
    score: float
    probabilities: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MultiLabelPrediction:
    """Multi-label output: labels at or above their decision threshold, with every score."""

    labels: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NerPrediction:
    """Token-classification output: entity spans with character offsets into the input."""

    spans: tuple[Span, ...]


Prediction = ClassPrediction | MultiLabelPrediction | NerPrediction
