"""Token classification (NER): IOB2 tags on the first word-piece of each word, entity-level metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.data.tags import is_cjk
from tunelab.errors import UsageError
from tunelab.models.casing import case_id_base, pack
from tunelab.tasks.base import IGNORE, Encoded, Evaluation, softmax
from tunelab.tasks.spec import NER
from tunelab.types import Example, LabelSet, NerPrediction, Prediction, Span, TokenExample

METASPACE = "\u2581"  # SentencePiece's word-start mark


def words_to_example(text: str, split: str = "words") -> TokenExample:
    """An unlabelled sentence cut into words (`split`: "words" or "chars") with character offsets (tags all O)."""
    from tunelab.data.tags import split_words

    words = split_words(text, split)
    return TokenExample(tuple(w for w, _, _ in words), tuple("O" for _ in words), text,
                        tuple((s, e) for _, s, e in words), split=split)


def drop_bare_metaspace(input_ids: list[int], word_ids: list[int | None], words: Sequence[str],
                        tokenizer: Any) -> tuple[list[int], list[int | None]]:
    """Without the lone "▁" pieces a SentencePiece tokenizer (XLM-R) puts before each CJK character given as a
    word of its own: the character's piece then carries its tag, and the model sees the text as it was
    pretrained on, not one "▁" between every two characters. Other tokenizers have no such pieces."""
    pieces = tokenizer.convert_ids_to_tokens(input_ids)
    keep = [i for i, (piece, word) in enumerate(zip(pieces, word_ids))
            if not (piece == METASPACE and word is not None and i + 1 < len(word_ids) and word_ids[i + 1] == word
                    and is_cjk(words[word][:1] or " "))]
    return [input_ids[i] for i in keep], [word_ids[i] for i in keep]


def cut_to_length(input_ids: list[int], word_ids: list[int | None],
                  max_length: int) -> tuple[list[int], list[int | None]]:
    """At most `max_length` tokens, keeping the closing special token (as the tokenizer's own truncation does)."""
    if len(input_ids) <= max_length:
        return input_ids, word_ids
    keep_last = word_ids[-1] is None
    head = max_length - 1 if keep_last else max_length
    return (input_ids[:head] + input_ids[-1:] * keep_last, word_ids[:head] + word_ids[-1:] * keep_last)


class NerTask:
    """One IOB2 tag per word; predictions are character spans."""

    name = "ner"
    metric_name = "f1"
    peft_task_type = "TOKEN_CLS"
    spec = NER

    def build_labels(self, examples: Sequence[Example]) -> LabelSet:
        types = sorted({t[2:] for e in examples if isinstance(e, TokenExample) for t in e.tags if t != "O"})
        return LabelSet(("O",) + tuple(f"{p}-{t}" for t in types for p in ("B", "I")))

    def encode(self, examples: Sequence[Example], tokenizer: Any, labels: LabelSet,
               max_length: int) -> list[Encoded]:
        index = {name: i for i, name in enumerate(labels.names)}
        id_base = case_id_base(tokenizer)  # set: the words' case goes into the ids (models/casing.py)
        words = [list(e.tokens) for e in examples]  # type: ignore[union-attr]
        # twice the length: dropping lone "▁" pieces can halve a sequence; cut to max_length after it
        batch = tokenizer(words, is_split_into_words=True, truncation=True, max_length=2 * max_length)
        out = []
        for row, example in enumerate(examples):
            input_ids, word_ids = drop_bare_metaspace(list(batch["input_ids"][row]), batch.word_ids(row),
                                                      example.tokens, tokenizer)  # type: ignore[union-attr]
            input_ids, word_ids = cut_to_length(input_ids, word_ids, max_length)
            targets, seen = [], set()
            for word in word_ids:
                if word is None or word in seen:
                    targets.append(IGNORE)
                else:
                    seen.add(word)
                    targets.append(index.get(example.tags[word], 0))  # type: ignore[union-attr]
            if id_base is not None:
                input_ids = pack(input_ids, word_ids, example.tokens, id_base)  # type: ignore[union-attr]
            out.append(Encoded(input_ids, targets, list(word_ids)))
        return out

    def build_model(self, path: Path, labels: LabelSet, dropout: float | None) -> Any:
        from transformers import AutoModelForTokenClassification

        from tunelab.models.build import build_model

        return build_model(AutoModelForTokenClassification, path, labels.names, dropout=dropout)

    def collate_targets(self, batch: Sequence[Encoded], width: int) -> Any:
        import torch

        out = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        for row, example in enumerate(batch):
            out[row, : len(example.target)] = torch.tensor(example.target, dtype=torch.long)
        return out

    def loss(self, logits: Any, targets: Any) -> Any:
        import torch

        return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(),
                                                 ignore_index=IGNORE)

    def word_tags(self, logits: np.ndarray, encoded: Encoded, n_words: int,
                  labels: LabelSet) -> tuple[list[str], list[float]]:
        """Tag and confidence per word from its first word-piece; words cut by truncation get O."""
        probs = softmax(logits[: len(encoded.word_ids)])
        tags, scores = ["O"] * n_words, [1.0] * n_words
        seen: set[int] = set()
        for position, word in enumerate(encoded.word_ids):
            if word is None or word in seen or word >= n_words:
                continue
            seen.add(word)
            best = int(probs[position].argmax())
            tags[word], scores[word] = labels.names[best], float(probs[position][best])
        return tags, scores

    def decode(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
               labels: LabelSet, state: dict[str, Any]) -> list[Prediction]:
        from tunelab.evaluation.metrics import entities_from_tags

        out: list[Prediction] = []
        for row_logits, enc, example in zip(logits, encoded, examples):
            assert isinstance(example, TokenExample)
            tags, scores = self.word_tags(row_logits, enc, len(example.tokens), labels)
            spans = []
            for kind, first, last in entities_from_tags(tags):
                start, end = example.offsets[first][0], example.offsets[last - 1][1]
                score = float(np.mean(scores[first:last]))
                spans.append(Span(start, end, kind, example.text[start:end], round(score, 6)))
            out.append(NerPrediction(tuple(spans)))
        return out

    def evaluate(self, logits: list[np.ndarray], encoded: Sequence[Encoded], examples: Sequence[Example],
                 labels: LabelSet, state: dict[str, Any], tune: bool = False) -> Evaluation:
        from tunelab.evaluation.metrics import ner_report

        gold, pred = [], []
        for row_logits, enc, example in zip(logits, encoded, examples):
            assert isinstance(example, TokenExample)
            gold.append(list(example.tags))
            pred.append(self.word_tags(row_logits, enc, len(example.tokens), labels)[0])
        report = ner_report(gold, pred)
        predictions = self.decode(logits, encoded, examples, labels, state)
        return Evaluation("f1", float(report.headline[1]), report.to_dict(), predictions, {})

    def wrap_text(self, text: str, state: Mapping[str, Any] | None = None) -> Example:
        """Raw text cut into words the way the training data was (`word_split` in the run's task state)."""
        return words_to_example(text, str((state or {}).get("word_split", "words")))

    def reading_state(self, examples: Sequence[Example]) -> dict[str, Any]:
        """How the training sentences were cut into words: "chars" for character-level data, else "words"."""
        splits = {e.split for e in examples if isinstance(e, TokenExample)}
        return {"word_split": "chars" if splits == {"chars"} else "words"}

    def display_labels(self, names: Sequence[str]) -> tuple[str, ...]:
        """Entity types from IOB2 tags (`B-PER`, `I-PER` -> `PER`); a label set without tags as it is."""
        if not any(name[:2] in ("B-", "I-") for name in names):
            return tuple(names)
        return tuple(sorted({name[2:] for name in names if name[:2] in ("B-", "I-")}))

    def read_output(self, output: Mapping[str, Any]) -> Prediction:
        spans = _checked_spans(output.get("spans"), "not an NER output: it has no list of `spans`")
        return NerPrediction(tuple(Span(int(s["start"]), int(s["end"]), str(s["label"]), str(s.get("text", "")),
                                        s.get("score")) for s in spans))

    def top_score(self, prediction: Prediction) -> float | None:
        """The least confident entity (None without entities)."""
        spans = getattr(prediction, "spans", ())
        return min((1.0 if s.score is None else float(s.score) for s in spans), default=None)

    def read_feedback(self, label: Any) -> Any:
        spans = _checked_spans(label, "this is an NER prediction: feedback `label` must be a list of spans "
                                       "{start, end, label}")
        return frozenset((int(s["start"]), int(s["end"]), str(s["label"])) for s in spans)

    def feedback_label_names(self, label: Any) -> set[str]:
        return {name for _start, _end, name in self.read_feedback(label)}

    def feedback_agrees(self, prediction: Prediction, label: Any) -> bool:
        found = frozenset((s.start, s.end, s.label) for s in getattr(prediction, "spans", ()))
        return found == self.read_feedback(label)

    def parse_typed_label(self, raw: str, text: str | None, labels: Sequence[str]) -> Any:
        """Entities as `Alice=PER; Paris=LOC`: each entity's words as they appear in the text, in order."""
        if text is None:
            raise UsageError("this prediction's text was not logged (hash-only mode); it cannot be relabelled here")
        spans, cursor = [], 0
        for item in [x.strip() for x in raw.split(";") if x.strip()]:
            words, sep, label = item.rpartition("=")
            words, label = words.strip(), label.strip()
            if not sep or not words or not label:
                raise UsageError(f"cannot read {item!r}", hint="write entities as `Alice=PER; Paris=LOC`")
            if labels and label not in labels:
                raise UsageError(f"unknown entity type {label!r}", hint=f"the model knows: {', '.join(labels)}")
            start = text.find(words, cursor)
            if start < 0:
                raise UsageError(f"{words!r} does not appear in the text (after the previous entity)")
            spans.append({"start": start, "end": start + len(words), "label": label})
            cursor = start + len(words)
        return spans


def _checked_spans(spans: Any, problem: str) -> list[Mapping[str, Any]]:
    """`spans` when it is a list of {start, end, label} objects; a UsageError saying `problem` otherwise."""
    if not isinstance(spans, list) or not all(isinstance(s, Mapping) and {"start", "end", "label"} <= set(s)
                                              for s in spans):
        raise UsageError(problem)
    return spans
