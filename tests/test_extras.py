"""Optional extras: a missing `tunelab[onnx]` / `tunelab[postgres]` package gives a clear error naming the extra."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import invoke_cli, isolated_cli_env
from tunelab import extras
from tunelab.errors import MissingExtraError, UsageError, error_from_code


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make `import module` fail as if the package were not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_require_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    hide(monkeypatch, "onnxruntime")
    with pytest.raises(MissingExtraError) as info:
        extras.require("onnxruntime", "running an ONNX artifact")
    assert info.value.extra == "onnx" and isinstance(info.value, UsageError) and info.value.exit_code == 2
    assert "running an ONNX artifact needs the Python package 'onnxruntime'" in str(info.value)
    assert "pip install 'tunelab[onnx]'" in str(info.value)


def test_require_returns_the_module_when_installed() -> None:
    assert extras.require("onnxruntime", "x") is pytest.importorskip("onnxruntime")


def test_onnx_model_without_onnxruntime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tunelab.inference.onnx_model import OnnxModel

    hide(monkeypatch, "onnxruntime")
    with pytest.raises(MissingExtraError, match=r"tunelab\[onnx\]"):
        OnnxModel(tmp_path / "model.onnx")


def test_auto_backend_falls_back_to_torch_without_onnxruntime(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    from tunelab.inference.predictor import choose_backend

    pytest.importorskip("onnxruntime")
    (tmp_path / "artifacts" / "onnx-int8").mkdir(parents=True)
    (tmp_path / "artifacts" / "onnx-int8" / "model.onnx").write_bytes(b"")
    from tunelab.artifacts.cards import read_cards

    artifacts = {"optimized": {"torch": {"throughput_b32_per_s": 100.0},
                               "onnx-int8": {"passed": True, "forced": False, "throughput_b32_per_s": 300.0}}}
    manifest = SimpleNamespace(artifacts=artifacts, cards=lambda: read_cards(artifacts))
    assert choose_backend(manifest, tmp_path) == "onnx-int8"  # type: ignore[arg-type]
    hide(monkeypatch, "onnxruntime")
    assert choose_backend(manifest, tmp_path) == "torch"  # type: ignore[arg-type]


def test_export_command_without_the_onnx_extra_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    isolated_cli_env(tmp_path, monkeypatch)
    hide(monkeypatch, "onnx")
    result = invoke_cli(["export", str(tmp_path / "no-such-run")], monkeypatch, capsys)
    assert result.code == 2, result.err
    assert "tunelab export needs the Python package 'onnx'" in result.err  # checked before the run is read
    assert "pip install 'tunelab[onnx]'" in result.err


def test_postgres_registry_without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.registry.db import create_engine

    hide(monkeypatch, "psycopg")
    with pytest.raises(MissingExtraError, match=r"tunelab\[postgres\]"):
        create_engine("postgresql://user:secret@localhost/tunelab")


def test_the_sdk_rebuilds_the_error_from_its_code() -> None:
    err = error_from_code("missing_extra", "export needs onnx", {"extra": "onnx"})
    assert isinstance(err, MissingExtraError) and err.details == {"extra": "onnx"}
