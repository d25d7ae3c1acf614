"""Config: YAML and overrides map onto dataclasses; unknown keys and bad values are rejected by key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.config import TrainConfig, describe_fields, load_config
from tunelab.errors import ConfigError


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train: a.csv\ntrain:\n  epochs: 2\n  lr: 1e-4\n", encoding="utf-8")
    config = load_config(path, ["train.power=2", "model.max_length=64"])
    assert config.data.train == "a.csv"
    assert config.train.epochs == 2 and config.train.lr == pytest.approx(1e-4)
    assert config.train.power == 2.0 and config.model.max_length == 64


@pytest.mark.parametrize(("override", "message"), [
    ("train.epoks=3", "unknown config key: train.epoks"),
    ("trian.epochs=3", "unknown config key: trian"),
    ("train.epochs=three", "train.epochs: expected int"),
    ("train.method=magic", "train.method must be one of"),
    ("train.power=0", "train.power must be > 0"),
    ("epochs", "must look like key.path=value"),
])
def test_rejects_bad_keys_and_values(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_nested_unknown_key_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: minilm\n  heads: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="model.heads"):
        load_config(path)


def test_field_docs_for_help() -> None:
    docs = describe_fields(TrainConfig)
    assert "Polynomial decay" in docs["power"]
