"""load_dataset: cross-split validation, warnings, carving, fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.config import DataConfig
from tunelab.data import load_dataset
from tunelab.errors import DataError


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["text,label"] + [f"{t},{label}" for t, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def balanced(prefix: str = "", per_class: int = 10) -> list[tuple[str, str]]:
    return [(f"{prefix}{label} text {i}", label) for label in ("a", "b", "c") for i in range(per_class)]


def problems_of(config: DataConfig) -> list[str]:
    with pytest.raises(DataError) as caught:
        load_dataset(config, seed=1)
    return [str(p) for p in caught.value.problems]


def test_no_training_file(tmp_path: Path) -> None:
    assert any("pass --data FILE" in p for p in problems_of(DataConfig()))


def test_label_only_in_dev_is_an_error(tmp_path: Path) -> None:
    train = write_rows(tmp_path / "train.csv", balanced())
    dev = write_rows(tmp_path / "dev.csv", [("x one", "a"), ("x two", "zzz"), ("x three", "zzz")])
    problems = problems_of(DataConfig(train=str(train), dev=str(dev)))
    assert len(problems) == 1
    assert "'zzz' appears 2 times in dev (first at line 3) but never in train" in problems[0]
    assert problems[0].startswith(f"{dev}:3")


def test_class_with_one_example_is_an_error(tmp_path: Path) -> None:
    train = write_rows(tmp_path / "train.csv", balanced() + [("lonely", "rare")])
    problems = problems_of(DataConfig(train=str(train)))
    assert len(problems) == 1 and "'rare'" in problems[0] and f"{train}:32" in problems[0]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("text,label\n", encoding="utf-8")
    assert any("no examples" in p for p in problems_of(DataConfig(train=str(train))))


def test_impossible_tags_fail_loading(tmp_path: Path) -> None:
    train = tmp_path / "train.conll"
    train.write_text("Alice B-PER\nsaw O\n\nBob O\nSmith I-PER\n", encoding="utf-8")
    problems = problems_of(DataConfig(train=str(train), task="ner", tag_scheme="iob2"))
    assert len(problems) == 1 and f"{train}:4" in problems[0] and "I-PER at token 2 follows O" in problems[0]


def test_entity_type_only_in_test_is_an_error(tmp_path: Path) -> None:
    train = tmp_path / "train.conll"
    train.write_text("Alice B-PER\nsaw O\n\nBob B-PER\n", encoding="utf-8")
    test = tmp_path / "test.conll"
    test.write_text("Paris B-LOC\n\nRome B-LOC\nBob B-PER\n", encoding="utf-8")
    problems = problems_of(DataConfig(train=str(train), test=str(test), task="ner"))
    assert problems == [f"{test}:1: entity type 'LOC' appears in 2 sentences of test (first at line 1) "
                        "but never in train"]


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_bytes(b"text,label\n,a\nok,\nbad \xff byte,b\n" + "\n".join(f"t{i},a" for i in range(5)).encode())
    dev = tmp_path / "dev.jsonl"
    dev.write_text('{"text": "x", "label": "a"}\nnot json\n', encoding="utf-8")
    test = tmp_path / "test.csv"
    test.write_text("sentence,label\nx,a\n", encoding="utf-8")
    problems = problems_of(DataConfig(train=str(train), dev=str(dev), test=str(test)))
    joined = "\n".join(problems)
    assert f"{train}:2 [text]: empty text" in joined
    assert f"{train}:3 [label]: missing label" in joined
    assert f"{train}:4: bytes that are not UTF-8" in joined
    assert f"{train}:4" in joined and "'b' has only 1" in joined
    assert f"{dev}:2: invalid JSON" in joined
    assert "no column 'text'" in joined
    assert len(problems) == 6


def test_duplicate_and_overlap_warnings(tmp_path: Path) -> None:
    rows = balanced()
    train = write_rows(tmp_path / "train.csv", rows + rows[:3] + [rows[0]])
    test = write_rows(tmp_path / "test.csv", rows[:5] + [("new text", "a")] + [rows[0]])
    bundle = load_dataset(DataConfig(train=str(train), test=str(test)), seed=3)
    assert "train: 4 duplicate texts (first at line 32)" in bundle.warnings
    assert "test: 1 duplicate text (first at line 8)" in bundle.warnings
    assert "5 texts appear in both train and test" in bundle.warnings


def test_carving_dev_and_test_with_note_and_fingerprint(tmp_path: Path) -> None:
    train = write_rows(tmp_path / "train.csv", balanced(per_class=20))
    config = DataConfig(train=str(train))
    bundle = load_dataset(config, seed=42)
    assert (len(bundle.train), len(bundle.dev), len(bundle.test)) == (48, 6, 6)
    assert bundle.split_note == "dev: 10% of train, stratified, seed 42; test: 10% of train, stratified, seed 42"
    assert bundle.dev.path is None and bundle.train.path == str(train)
    again = load_dataset(config, seed=42)
    assert again.dev.examples == bundle.dev.examples and again.fingerprint == bundle.fingerprint
    assert len(bundle.fingerprint) == 64
    given = write_rows(tmp_path / "x.csv", balanced("other "))
    other = load_dataset(DataConfig(train=str(train), test=str(given), dev_fraction=0), seed=42)
    assert other.dev is None and other.test.path == str(given) and len(other.train) == 60
    assert other.split_note == "dev: none; test: given file x.csv"
    assert other.fingerprint != bundle.fingerprint


def test_conftest_fixtures_load(intent_csv: Path, multilabel_jsonl: Path, ner_conll: Path) -> None:
    assert len(load_dataset(DataConfig(train=str(intent_csv)), seed=0).train) > 0
    multi = load_dataset(DataConfig(train=str(multilabel_jsonl), task="multilabel"), seed=0)
    assert any(len(e.labels) == 2 for e in multi.train.examples)
    ner = load_dataset(DataConfig(train=str(ner_conll), task="ner", dev_fraction=0, test_fraction=0), seed=0)
    assert len(ner.train) == 6 and ner.dev is None and ner.test is None
