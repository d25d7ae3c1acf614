"""Config: YAML and overrides map onto dataclasses; every unknown key and bad value is reported at once, by key path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tunelab.config import (
    DataConfig,
    ModelConfig,
    TrainConfig,
    config_options,
    describe_fields,
    load_config,
    option_overrides,
)
from tunelab.errors import ConfigError, ConfigProblem


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train: a.csv\ntrain:\n  epochs: 2\n  lr: 1e-4\n", encoding="utf-8")
    config = load_config(path, ["train.power=2", "model.max_length=64"])
    assert config.data.train == "a.csv"
    assert config.train.epochs == 2 and config.train.lr == pytest.approx(1e-4)
    assert config.train.power == 2.0 and config.model.max_length == 64


@pytest.mark.parametrize(("override", "message"), [
    ("train.epoks=3", r"^train\.epoks: unknown key \(did you mean 'epochs'\?\)$"),
    ("trian.epochs=3", r"^trian: unknown key \(did you mean 'train'\?\)$"),
    ("train.epochs=three", r"^train\.epochs: expected int or null, got 'three'$"),
    ("train.method=magic", r"^train\.method: must be one of full, lora, adalora, probe, got 'magic'$"),
    ("train.power=0", r"^train\.power: must be > 0$"),
    ("train.epochs=true", r"^train\.epochs: expected int or null, got True$"),
    ("data.task=", r"^data\.task: may not be empty \(expected str\)$"),
    ("epochs", "must look like key.path=value"),
])
def test_rejects_bad_keys_and_values(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_nested_unknown_key_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: minilm\n  heads: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.yaml: model\.heads: unknown key") as caught:
        load_config(path)
    known = "case_feature, dropout, max_length, name"
    assert caught.value.problems == [ConfigProblem("model.heads", f"unknown key (known: {known})")]


def test_every_problem_is_reported_at_once_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  task: ner\n  dev_fraction: 0.7\n  colums: x\nmodel: minilm\n"
                    "train:\n  epochs: three\n  lr: -1\n  method: magic\nextra: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, ["train.power=0"])
    found = {p.path: p.message for p in caught.value.problems}
    assert set(found) == {"data.colums", "model", "train.epochs", "train.lr", "train.method", "train.power",
                          "data.dev_fraction", "extra"}
    assert found["model"] == "expected a mapping, got 'minilm'"
    assert found["data.colums"].startswith("unknown key (known: dev, dev_fraction, format,")  # nothing close
    message = str(caught.value)
    assert message.startswith(f"{path}: 8 problems in the config:")
    assert "  - train.epochs: expected int or null, got 'three'" in message
    assert caught.value.exit_code == 2


def test_a_bad_type_is_not_also_reported_as_a_bad_value() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["train.lora_r=many", "train.adalora_target_r=2"])
    assert [p.path for p in caught.value.problems] == ["train.lora_r"]


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: no such file"):
        load_config(tmp_path / "nope.yaml")


def test_field_docs_for_help() -> None:
    docs = describe_fields(TrainConfig)
    assert "Polynomial decay" in docs["power"]
    assert docs["max_tokens"].startswith("Token-budget batching: each step") and "\n" not in docs["max_tokens"]


def test_an_option_for_every_field_with_unique_names() -> None:
    options = config_options()
    paths = {o.path for o in options}
    for section, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        assert {f"{section}.{f.name}" for f in dataclasses.fields(cls)} <= paths
    names = [o.name for o in options]
    assert len(names) == len(set(names))
    assert all(o.help for o in options), [o.path for o in options if not o.help]
    by_name = {o.name: o for o in options}
    assert by_name["data"].path == "data.train" and by_name["model"].path == "model.name"
    assert by_name["warmup_ratio"].default == 0.06 and by_name["lr"].default is None


def test_keyword_options_map_through_the_table() -> None:
    overrides = option_overrides({"data": "a.csv", "epochs": 3, "model": "m", "dropout": 0.2, "lr": None,
                                  "train__power": 2})
    assert overrides == ['data.train="a.csv"', "train.epochs=3", 'model.name="m"', "model.dropout=0.2",
                         "train.power=2"]
    config = load_config(None, overrides)
    assert (config.data.train, config.train.epochs, config.model.dropout, config.train.power) == ("a.csv", 3, 0.2, 2)
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        load_config(None, option_overrides({"train__epoch": 3}))


def test_the_sdk_rebuilds_a_config_error_with_its_problems() -> None:
    from tunelab.errors import error_from_code

    problems = [{"path": "rules[0].above", "message": "must be a number", "line": None, "column": None}]
    error = error_from_code("config_error", "m.yaml: rules[0].above: must be a number", {"problems": problems})
    assert isinstance(error, ConfigError) and error.problems == [ConfigProblem("rules[0].above", "must be a number")]
