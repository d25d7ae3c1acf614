"""The CLI: help everywhere, exit code 2 and a clear message on bad input, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tunelab

ENV = {**os.environ, "PYTHONPATH": str(Path(tunelab.__file__).parents[1])}


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunelab", *args], capture_output=True, text=True,
                          input=stdin, env=ENV, timeout=300)


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "runs", "demo"])
def test_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_bad_data_exits_2_and_leaves_no_run_folder(tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_bytes(b"text,label\nhello there,a\n,b\nok then,\n\xff\xfe broken,a\n")
    out = tmp_path / "run"
    result = run_cli("train", "--data", str(data), "--model", str(tiny_model), "--output", str(out))
    assert result.returncode == 2
    assert "bad.csv:3" in result.stderr and "bad.csv:4" in result.stderr and "bad.csv:5" in result.stderr
    assert not out.exists()


def test_hub_name_fails_fast_with_a_hint(intent_csv: Path, tmp_path: Path) -> None:
    result = run_cli("train", "--data", str(intent_csv), "--model", "bert-base-uncased",
                     "--output", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "never downloads" in result.stderr and "--model ./models/" in result.stderr
    assert not (tmp_path / "r").exists()


def test_unknown_config_key_exits_2(intent_csv: Path, tmp_path: Path) -> None:
    result = run_cli("train", "--data", str(intent_csv), "--set", "train.epoch=3", "--output", str(tmp_path / "r"))
    assert result.returncode == 2 and "train.epoch" in result.stderr


def test_distill_set_refuses_what_distillation_decides_with_exit_2(tmp_path: Path) -> None:
    result = run_cli("distill", "--teacher", str(tmp_path / "teacher"), "--set", "train.method=lora")
    assert result.returncode == 2
    assert "distillation sets train.method itself" in result.stderr and "trains the student fully" in result.stderr
    assert not (tmp_path / "teacher-distilled").exists()


def test_train_predict_runs_round_trip(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "intents"
    trained = run_cli("train", "--data", str(intent_csv), "--model", str(tiny_model), "--output", str(out),
                      "--epochs", "3", "--precision", "fp32", "--json")
    assert trained.returncode == 0, trained.stderr
    assert "step " in trained.stderr  # plain progress lines when not on a terminal
    summary = json.loads(trained.stdout)
    assert "test" in summary["metrics"]
    for name in ("manifest.json", "model.safetensors", "config.json", "metrics.json", "report.md",
                 "README.md", "confusion_matrix.png", "calibration.png", "training_curves.png", "config.yaml"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoints").exists()

    predicted = run_cli("predict", str(out), stdin="refund my order\nwhere is my parcel\n")
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == 2 and set(rows[0]["probabilities"]) == {"password", "refund", "shipping"}

    csv_out = tmp_path / "p.csv"
    assert run_cli("predict", str(out), "--text", "hello", "--output", str(csv_out)).returncode == 0
    assert csv_out.read_text().startswith("text,label,score,p_")

    listed = run_cli("runs", str(tmp_path / "runs"), "--json")
    assert json.loads(listed.stdout)[0]["status"] == "complete"

    evaluated = run_cli("evaluate", str(out), "--data", str(intent_csv), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy" in json.loads(evaluated.stdout)


def test_existing_output_is_refused(intent_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "x").write_text("keep me")
    result = run_cli("train", "--data", str(intent_csv), "--output", str(out))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert (out / "x").read_text() == "keep me"


def test_predict_on_incomplete_run_says_how_to_resume(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("{}")
    result = run_cli("predict", str(tmp_path / "half"), "--text", "x")
    assert result.returncode == 2 and "--resume" in result.stderr


def test_version_is_the_installed_distribution_version(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from tests.conftest import invoke_cli

    result = invoke_cli(["--version"], monkeypatch, capsys)
    assert result.code == 0 and result.out == f"tunelab {version('tunelab')}\n"
    assert tunelab.__version__ == version("tunelab")


def test_version_falls_back_when_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert tunelab.installed_version() == "0+unknown"


def test_unknown_option_exits_2_without_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import invoke_cli

    result = invoke_cli(["runs", "--bogus"], monkeypatch, capsys)
    assert result.code == 2 and "No such option: --bogus" in result.err
    assert "Traceback" not in result.err
