"""tools/check_imports.py: every third-party import under src/ must come from a declared distribution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "check_imports.py"

PYPROJECT = """
[project]
name = "pkg"
dependencies = ["PyYAML>=6", "numpy"]

[project.optional-dependencies]
fast = ["onnxruntime>=1.18"]
dev = ["pytest"]
"""


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def make_tree(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    src = tmp_path / "src"
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(PYPROJECT)
    return src, pyproject


def test_the_project_declares_every_import() -> None:
    result = run_check()
    assert result.returncode == 0, result.stderr


def test_declared_stdlib_own_and_relative_imports_pass(tmp_path: Path) -> None:
    src, pyproject = make_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import os\nimport yaml\nfrom numpy import array\nfrom . import b\nimport pkg.b\n",
        "pkg/b.py": "def f():\n    import onnxruntime  # an optional extra counts as declared\n",
    })
    result = run_check("--src", str(src), "--pyproject", str(pyproject))
    assert result.returncode == 0, result.stderr


def test_an_undeclared_import_fails_with_file_line_and_distribution(tmp_path: Path) -> None:
    src, pyproject = make_tree(tmp_path, {
        "pkg/__init__.py": "import yaml\n",
        "pkg/stats.py": '"""x"""\n\nfrom scipy.stats import fisher_exact\n',
    })
    result = run_check("--src", str(src), "--pyproject", str(pyproject))
    assert result.returncode == 1
    assert f"{src / 'pkg' / 'stats.py'}:3: imports 'scipy' from distribution scipy" in result.stderr
    assert "yaml" not in result.stderr and "1 undeclared" in result.stderr


def test_a_dev_only_dependency_does_not_count(tmp_path: Path) -> None:
    src, pyproject = make_tree(tmp_path, {"pkg/__init__.py": "import pytest\n"})
    result = run_check("--src", str(src), "--pyproject", str(pyproject))
    assert result.returncode == 1 and "__init__.py:1: imports 'pytest'" in result.stderr
    allowed = run_check("--src", str(src), "--pyproject", str(pyproject), "--ignore-extra", "none")
    assert allowed.returncode == 0, allowed.stderr


def test_a_module_that_is_not_installed_fails(tmp_path: Path) -> None:
    src, pyproject = make_tree(tmp_path, {"pkg/__init__.py": "\nimport surely_not_installed_xyz\n"})
    result = run_check("--src", str(src), "--pyproject", str(pyproject))
    assert result.returncode == 1
    assert "__init__.py:2: imports 'surely_not_installed_xyz', which no installed distribution" in result.stderr
