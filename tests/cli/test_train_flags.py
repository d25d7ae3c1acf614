"""`tunelab train` flags are generated from the run config's fields: one per field, the field's docstring as help."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from tests.conftest import invoke_cli

from tunelab.cli.main import app
from tunelab.config import RunConfig, config_options, describe_fields


def _train_command() -> Any:
    return typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]


def test_a_flag_for_every_config_field_with_its_docstring_as_help() -> None:
    params = {p.name: p for p in _train_command().params}
    for option in config_options():
        param = params[option.name]
        assert f"--{option.name.replace('_', '-')}" in param.opts, option.name
        assert param.help and param.help.startswith(option.help), option.name
    assert "Polynomial decay power" in params["power"].help and "(default: 1.0)" in params["power"].help
    assert params["lr"].help == describe_fields(type(RunConfig().train))["lr"]
    assert params["output"].opts == ["--output", "-o"] and params["data"].opts == ["--data"]
    for own in ("config", "set_", "resume", "as_json", "quiet"):
        assert own in params


def test_flags_set_the_config_the_recipe_gets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[RunConfig] = []

    def fake_run_train(config: RunConfig, **kwargs: Any) -> None:
        seen.append(config)

    monkeypatch.setattr("tunelab.recipes.train.run_train", fake_run_train)
    monkeypatch.setattr("tunelab.cli.output.show_train_summary", lambda summary, as_json: None)
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  epochs: 9\n  power: 3\n", encoding="utf-8")
    result = invoke_cli(["train", "--data", "a.csv", "--epochs", "3", "--lr", "1e-4", "--method", "lora",
                         "--max-length", "64", "--text-column", "body", "--lora-r", "4", "--adalora-target-r", "2",
                         "--model", "m", "-o", "runs/x", "-c", str(config), "--set", "train.seed=7"],
                        monkeypatch, capsys)
    assert result.code == 0, result.err
    [run] = seen
    assert (run.data.train, run.data.text_column, run.model.name, run.model.max_length, run.output) == (
        "a.csv", "body", "m", 64, "runs/x")
    t = run.train
    assert (t.epochs, t.lr, t.method, t.lora_r, t.adalora_target_r, t.power, t.seed) == (3, 1e-4, "lora", 4, 2, 3, 7)


def test_bad_flag_values_are_all_reported_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke_cli(["train", "--data", "a.csv", "--method", "magic", "--dev-fraction", "0.9",
                         "--set", "train.epoch=3"], monkeypatch, capsys)
    assert result.code == 2
    for expected in ("3 problems in the config", "train.method: must be one of", "data.dev_fraction: must be in",
                     "train.epoch: unknown key (did you mean 'epochs'?)"):
        assert expected in result.err, result.err
