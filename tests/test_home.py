"""One home folder: `$TUNELAB_HOME`, else ~/.tunelab; every place that keeps TuneLab's files asks `home()`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tunelab
from tunelab.home import home

SRC = Path(tunelab.__file__).parent


def test_home_follows_the_variable_at_every_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path / "a"))
    assert home() == tmp_path / "a"
    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path / "b"))
    assert home() == tmp_path / "b"
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    for unset in ("", "  "):
        monkeypatch.setenv("TUNELAB_HOME", unset)
        assert home() == tmp_path / "user" / ".tunelab"
    monkeypatch.delenv("TUNELAB_HOME")
    assert home() == tmp_path / "user" / ".tunelab"


def test_registry_models_and_dashboard_files_live_in_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.models.packaged import cache_root
    from tunelab.registry.db import default_db_url
    from tunelab.serving.policy import runs_folder
    from tunelab.serving.settings import ServeSettings

    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path))
    monkeypatch.delenv("TUNELAB_DB", raising=False)
    assert cache_root() == tmp_path / "models"
    assert default_db_url() == f"sqlite:///{tmp_path / 'registry.db'}"
    assert runs_folder(ServeSettings(db="sqlite://", runs_root="")) == tmp_path / "runs"


def test_nothing_else_reads_tunelab_home_or_builds_its_default() -> None:
    reads = re.compile(r"""(environ|getenv)\b[^\n]*TUNELAB_HOME|["']\.tunelab["']|["']\.cache["']""")
    offenders = [str(path.relative_to(SRC)) for path in SRC.rglob("*.py")
                 if path.name != "home.py" and reads.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
    assert reads.search((SRC / "home.py").read_text(encoding="utf-8"))  # the pattern does find the real one
