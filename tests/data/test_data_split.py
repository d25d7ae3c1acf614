"""split_examples: determinism, stratification, tiny classes."""

from __future__ import annotations

from collections import Counter

from tunelab.data import split_examples
from tunelab.types import TextExample, TokenExample


def examples(sizes: dict[str, int]) -> list[TextExample]:
    return [TextExample(f"{label} {i}", (label,)) for label, n in sizes.items() for i in range(n)]


def test_split_is_deterministic_for_a_seed() -> None:
    data = examples({"a": 30, "b": 30})
    assert split_examples(data, 0.2, 7, True) == split_examples(data, 0.2, 7, True)
    assert split_examples(data, 0.2, 7, True)[1] != split_examples(data, 0.2, 8, True)[1]


def test_split_is_stratified() -> None:
    data = examples({"a": 80, "b": 20})
    kept, carved = split_examples(data, 0.1, 0, True)
    assert Counter(e.label for e in carved) == {"a": 8, "b": 2}
    assert len(kept) == 90 and set(kept).isdisjoint(carved)


def test_tiny_classes_stay_in_kept() -> None:
    data = examples({"a": 20, "b": 2, "c": 3})
    for seed in range(20):
        kept, carved = split_examples(data, 0.4, seed, True)
        labels = Counter(e.label for e in kept)
        assert labels["b"] == 2 and labels["c"] >= 1


def test_multilabel_by_first_label_and_ner_random() -> None:
    data = [TextExample(f"t{i}", ("x", "y") if i % 2 else ("y",)) for i in range(40)]
    _, carved = split_examples(data, 0.25, 1, True)
    assert Counter(e.labels[0] for e in carved) == {"x": 5, "y": 5}
    sentences = [TokenExample((f"w{i}",), ("O",), f"w{i}", ((0, 2),)) for i in range(10)]
    kept, carved = split_examples(sentences, 0.3, 1, False)
    assert len(carved) == 3 and len(kept) == 7
