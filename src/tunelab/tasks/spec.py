"""What differs between tasks, as plain constants: the layers below tasks (config, data) read these, never a name."""

from __future__ import annotations

from dataclasses import dataclass

from tunelab.errors import UsageError


@dataclass(frozen=True)
class TaskSpec:
    """One task's facts. Code outside `tasks/` asks these instead of comparing the task's name."""

    name: str
    description: str  # one line for people (the dashboard's task menu)
    auto_model: str  # the transformers Auto class its model loads with
    per_token: bool  # one label per word: tagged words in (CoNLL, JSONL spans), a logit row per token out
    multi_label: bool  # zero or more labels per text: label cells split on the separator, sigmoid outputs
    formats: tuple[str, ...]  # the labelled-data formats it reads
    formats_note: str  # what its data must be, for the error when a file's format is not one of them
    output_key: str  # the key of its serialised prediction that holds the answer (and names the shape)
    label_input: str  # how a reviewer types a corrected label: "choice", "list" or "spans"
    stratify: bool  # examples carry classes: splits stratify by them and each class needs 2 training examples
    epoch_divisor: int = 1  # NER sentences carry a label per word, so they need about half the passes
    jsonl_label_key: str = "label"  # where a JSONL training file it reads holds the labels by default

    @property
    def single_label(self) -> bool:
        """Exactly one class per text (a softmax over classes)."""
        return not self.per_token and not self.multi_label


TEXT_FORMATS = ("csv", "tsv", "jsonl")

CLASSIFICATION = TaskSpec(
    "classification", "Classification: one label per text", "AutoModelForSequenceClassification",
    per_token=False, multi_label=False, formats=TEXT_FORMATS,
    formats_note="classification data must be CSV, TSV or JSONL with a text and a label",
    output_key="label", label_input="choice", stratify=True)
MULTILABEL = TaskSpec(
    "multilabel", "Multi-label: several labels per text", "AutoModelForSequenceClassification",
    per_token=False, multi_label=True, formats=TEXT_FORMATS,
    formats_note="multi-label data must be CSV, TSV or JSONL with a text and its labels",
    output_key="labels", label_input="list", stratify=True)
NER = TaskSpec(
    "ner", "Named entities: labelled spans in the text", "AutoModelForTokenClassification",
    per_token=True, multi_label=False, formats=("conll", "jsonl"),
    formats_note="NER data must be CoNLL or JSONL with character spans",
    output_key="spans", label_input="spans", stratify=False, epoch_divisor=2, jsonl_label_key="spans")

SPECS: dict[str, TaskSpec] = {spec.name: spec for spec in (CLASSIFICATION, MULTILABEL, NER)}
TASK_NAMES: tuple[str, ...] = tuple(SPECS)


def get_spec(name: str) -> TaskSpec:
    """The facts of the task called `name`; a UsageError that lists the right names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}; choose one of: {', '.join(SPECS)}") from None


def readers_of(format_name: str) -> tuple[str, ...]:
    """The tasks whose labelled data comes in `format_name`."""
    return tuple(spec.name for spec in SPECS.values() if format_name in spec.formats)
