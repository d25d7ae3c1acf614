"""NER entity extraction and report checked against seqeval strict IOB2."""

from __future__ import annotations

import numpy as np
import pytest
from seqeval.metrics import classification_report as seqeval_report
from seqeval.scheme import IOB2, Entities

from tunelab.evaluation.metrics import entities_from_tags, ner_report

TAGS = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "I-MISC"]


def _random_tags(rng: np.random.Generator, n: int) -> list[list[str]]:
    return [list(rng.choice(TAGS, size=int(rng.integers(1, 12)))) for _ in range(n)]


def test_entities_strict_iob2() -> None:
    assert entities_from_tags(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert entities_from_tags(["I-PER", "I-PER", "O"]) == []
    assert entities_from_tags(["B-PER", "I-LOC", "I-LOC"]) == [("PER", 0, 1)]
    assert entities_from_tags(["B-PER", "B-PER", "I-PER"]) == [("PER", 0, 1), ("PER", 1, 3)]
    assert entities_from_tags([]) == []


@pytest.mark.parametrize("seed", range(10))
def test_entities_match_seqeval(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for tags in _random_tags(rng, 30):
        expected = [(e.tag, e.start, e.end) for e in Entities([tags], IOB2).entities[0]]
        assert entities_from_tags(tags) == expected


@pytest.mark.parametrize("seed", range(10))
def test_report_matches_seqeval(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gold = _random_tags(rng, 25)
    pred = [[t if rng.random() < 0.7 else str(rng.choice(TAGS)) for t in row] for row in gold]
    expected = seqeval_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    report = ner_report(gold, pred)
    d = report.to_dict()
    types = [k for k in expected if not k.endswith(" avg")]
    assert sorted(d["per_class"]) == sorted(types)
    for name in types:
        row = expected[name]
        assert d["per_class"][name] == pytest.approx(
            {"precision": row["precision"], "recall": row["recall"], "f1": row["f1-score"],
             "support": row["support"]}, abs=1e-6)
    for average in ("micro", "macro", "weighted"):
        row = expected[f"{average} avg"]
        assert d[average] == pytest.approx(
            {"precision": row["precision"], "recall": row["recall"], "f1": row["f1-score"]}, abs=1e-6)
    assert report.headline == ("f1", pytest.approx(expected["micro avg"]["f1-score"]))


def test_report_no_entities() -> None:
    d = ner_report([["O", "O"]], [["O", "I-PER"]]).to_dict()
    assert d["per_class"] == {} and d["micro"]["f1"] == 0.0
