"""Fail when a third-party module imported under src/ comes from no distribution declared in pyproject.toml.

Walks every .py file with `ast`, keeps absolute imports that are neither the standard library nor the project's
own packages, maps each top-level module to the installed distributions that provide it
(`importlib.metadata.packages_distributions`) and checks that one of them is in `[project] dependencies` or in
an optional extra other than the ignored ones (default: `dev`, which src/ must never need). Usage:

    python tools/check_imports.py [--src src] [--pyproject pyproject.toml] [--ignore-extra dev]
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Import:
    """One imported top-level module and where."""

    path: Path
    line: int
    module: str


def normalise(name: str) -> str:
    """PEP 503 name normalisation: `PyYAML`, `pyyaml` and `py_yaml` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def find_imports(root: Path) -> Iterator[Import]:
    """Every absolute import under `root`, as its top-level module name."""
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                yield Import(path, node.lineno, name.split(".")[0])


def own_modules(root: Path) -> set[str]:
    """The project's top-level packages and modules directly under `root` (e.g. `tunelab`)."""
    return {p.name for p in root.iterdir() if (p / "__init__.py").is_file()} | {p.stem for p in root.glob("*.py")}


def declared(pyproject: Path, ignore_extras: set[str]) -> set[str]:
    """Normalised names of the distributions in `dependencies` and in every extra not ignored."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    for extra, group in project.get("optional-dependencies", {}).items():
        if extra not in ignore_extras:
            requirements += group
    names = set()
    for requirement in requirements:
        match = _NAME.match(requirement)
        if match:
            names.add(normalise(match.group(1)))
    return names


def find_undeclared(root: Path, pyproject: Path, ignore_extras: set[str]) -> list[str]:
    """One message per import whose distribution is not declared, as `file:line: ...`."""
    allowed = declared(pyproject, ignore_extras)
    skip = set(sys.stdlib_module_names) | own_modules(root) | {"__future__"}
    providers = packages_distributions()
    problems = []
    for item in find_imports(root):
        if item.module in skip:
            continue
        dists = providers.get(item.module)
        if not dists:
            if normalise(item.module) not in allowed:
                problems.append(f"{item.path}:{item.line}: imports {item.module!r}, which no installed distribution "
                                f"provides; install it and declare its distribution in {pyproject.name}")
            continue
        if not any(normalise(d) in allowed for d in dists):
            names = " or ".join(sorted(set(dists)))
            problems.append(f"{item.path}:{item.line}: imports {item.module!r} from distribution {names}, "
                            f"which {pyproject.name} does not declare (dependencies or an extra)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("src"))
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("--ignore-extra", action="append", default=None,
                        help="an extra that src/ must not rely on (repeatable; default: dev)")
    args = parser.parse_args(argv)
    problems = find_undeclared(args.src, args.pyproject, set(args.ignore_extra or ["dev"]))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check_imports: {len(problems)} undeclared third-party import(s)", file=sys.stderr)
        return 1
    print(f"check_imports: every third-party import under {args.src} is declared in {args.pyproject}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
