"""The bundled Chinese demo: its tickets and knowledge base load and validate, it defaults to the multilingual
model, its files are package data, and the whole demo flow runs (on a tiny XLM-R-like model here)."""

from __future__ import annotations

import csv
import fnmatch
import tomllib
from pathlib import Path

import pytest

from tunelab.apps.assistant.kb import load_kb
from tunelab.config import DataConfig
from tunelab.data import load_dataset
from tunelab.errors import UsageError
from tunelab.recipes.demo import demo_config, demo_data_dir, run_demo

ROOT = Path(__file__).resolve().parents[2]


def rows(name: str) -> list[tuple[str, str]]:
    with open(demo_data_dir("zh") / name, encoding="utf-8", newline="") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle)]


def test_the_chinese_tickets_load_and_validate() -> None:
    folder = demo_data_dir("zh")
    bundle = load_dataset(DataConfig(train=str(folder / "support_train.csv"), test=str(folder / "support_test.csv"),
                                     task="classification"), seed=0)
    assert bundle.warnings == ()
    train, test = rows("support_train.csv"), rows("support_test.csv")
    labels = {label for _, label in train}
    assert len(labels) == 10 and len(train) == 120 and len(test) == 40
    assert {label for _, label in test} == labels
    assert all(sum(1 for _, x in train if x == label) == 12 for label in labels)
    texts = [t for t, _ in train + test]
    assert len(texts) == len(set(texts)), "a ticket appears twice"
    assert all(any("\u4e00" <= c <= "\u9fff" for c in t) for t in texts), "every ticket is Chinese"


def test_the_chinese_knowledge_base_is_valid_and_matches_the_tickets() -> None:
    kb = load_kb(demo_data_dir("zh") / "support_kb.yaml")
    train = dict(rows("support_train.csv"))
    assert len(kb.intents) == 10 and len(kb.faq) == 3 and kb.out_of_scope
    assert {i.name for i in kb.intents} == set(train.values())
    assert all(train.get(example) == intent.name for intent in kb.intents for example in intent.examples)
    assert "{support_email}" in kb.intent("invoice").answer and kb.variables["support_email"]  # type: ignore[union-attr]


def test_the_chinese_demo_defaults_to_the_multilingual_model(tmp_path: Path) -> None:
    assert demo_config(tmp_path, lang="zh").model.name == "multilingual"
    assert demo_config(tmp_path, lang="zh", model="mpnet").model.name == "mpnet"
    assert demo_config(tmp_path).model.name == "minilm"
    with pytest.raises(UsageError, match="no demo in 'fr'"):
        demo_data_dir("fr")


def test_the_chinese_files_are_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]
    for path in demo_data_dir("zh").iterdir():
        relative = f"demo_data/zh/{path.name}"
        assert any(fnmatch.fnmatch(relative, p) for p in patterns["tunelab"]), relative


def test_the_chinese_demo_runs(tmp_path: Path) -> None:
    from tunelab.models.tiny import build_tiny_xlmr

    texts = [t for t, _ in rows("support_train.csv")]
    model = build_tiny_xlmr(tmp_path / "tiny", texts)
    result = run_demo(tmp_path / "demo", epochs=2, lang="zh", model=str(model))
    assert result["metrics"]["test"]["total_support"] == 40
    assert "我上周买的台灯到现在还没发货" in result["text"]  # the sample questions, answered
    assert result["text"].count("\n    -> ") == 6
