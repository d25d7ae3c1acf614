"""Entity-level NER metrics with seqeval strict IOB2 semantics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.evaluation.scoring import ScoreTable, TableViews, score_table

Entity = tuple[str, int, int]


def _split_tag(tag: str) -> tuple[str, str]:
    """(prefix, type) of an IOB2 tag; anything that is not B-X or I-X counts as O."""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
        return tag[0], tag[2:]
    return "O", ""


def entities_from_tags(tags: Sequence[str]) -> list[Entity]:
    """(type, start, end_exclusive) spans: B-X starts, I-X continues only type X, a stray I-X is dropped."""
    out: list[Entity] = []
    current: str | None = None
    start = 0
    for position, tag in enumerate(tags):
        prefix, kind = _split_tag(tag)
        if prefix == "I" and current == kind:
            continue
        if current is not None:
            out.append((current, start, position))
            current = None
        if prefix == "B":
            current, start = kind, position
    if current is not None:
        out.append((current, start, len(tags)))
    return out


@dataclass(frozen=True)
class NerReport(TableViews):
    """Strict entity match per type (an entity counts only if type and both boundaries agree)."""

    table: ScoreTable
    sentences: int

    @property
    def headline(self) -> tuple[str, float]:
        return ("f1", self.table.micro.f1)

    def to_dict(self) -> dict[str, Any]:
        out = self.table.to_dict()
        out["sentences"] = self.sentences
        return out


def _entity_sets(sequences: Sequence[Sequence[str]]) -> set[tuple[int, str, int, int]]:
    return {(row, kind, start, end) for row, tags in enumerate(sequences)
            for kind, start, end in entities_from_tags(tags)}


def ner_report(gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> NerReport:
    """seqeval-equivalent strict IOB2 report; types are those seen in gold or predictions."""
    if len(gold_tags) != len(pred_tags):
        raise ValueError(f"gold has {len(gold_tags)} sentences but pred has {len(pred_tags)}")
    gold, pred = _entity_sets(gold_tags), _entity_sets(pred_tags)
    types = sorted({e[1] for e in gold} | {e[1] for e in pred})
    hits = gold & pred
    n_hit, n_pred, n_gold = (Counter(e[1] for e in group) for group in (hits, pred, gold))
    tp = [n_hit[t] for t in types]
    fp = [n_pred[t] - n_hit[t] for t in types]
    fn = [n_gold[t] - n_hit[t] for t in types]
    return NerReport(score_table(types, tp, fp, fn), len(gold_tags))
