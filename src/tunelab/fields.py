"""The one configuration reader: YAML, environment and flag values into typed dataclasses, every problem at once.

The run config (`config.py`), the server settings (`serving/settings.py`) and the monitor config
(`apps/monitor/config.py`) all read through here. Types come from the dataclasses' real type hints
(`typing.get_type_hints`); every problem is collected with its dotted path (`train.lr`, `rules[0].above`)
and raised together as one `ConfigError` whose `problems` list them; an unknown key names the closest
known one ("did you mean ...?").

Values come in two kinds: structured (YAML, JSON, Python keyword arguments: `3` is already an int) or
text (environment variables, command-line strings: `"3"`, `"yes"`, `"a,b"`), chosen with `text=True`.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tunelab.errors import ConfigError, ConfigProblem, UsageError

FAILED: Any = object()  # what `read_value` returns when the value could not be read (a problem was added)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Problems:
    """Collects `ConfigProblem`s while a whole config is read; `raise_any` raises them as one ConfigError."""

    def __init__(self) -> None:
        self.items: list[ConfigProblem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(ConfigProblem(path, message))

    def has(self, path: str) -> bool:
        """Whether a problem was already found at `path` or below it."""
        return any(p.path == path or p.path.startswith(path + ".") for p in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def raise_any(self, source: str | None = None, *, what: str = "config", hint: str | None = None) -> None:
        """Raise one ConfigError listing every problem (prefixed by `source`, the file), if there are any."""
        if not self.items:
            return
        prefix = f"{source}: " if source else ""
        if len(self.items) == 1:
            message = f"{prefix}{self.items[0]}"
        else:
            listed = "\n".join(f"  - {p}" for p in self.items)
            message = f"{prefix}{len(self.items)} problems in the {what}:\n{listed}"
        error = ConfigError(message, hint=hint, problems=self.items)
        error.details = {"file": source} if source else {}
        raise error


def join(path: str, key: object) -> str:
    """`train` + `lr` -> `train.lr`; an int key is an index: `rules` + 0 -> `rules[0]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def suggest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt one, if any is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def check_keys(raw: Mapping[Any, Any], known: Iterable[str], path: str, problems: Problems) -> None:
    """Add an `unknown key` problem for every key of `raw` not in `known`, naming the closest known key."""
    known = sorted(known)
    for key in sorted(set(raw) - set(known), key=str):
        close = suggest(str(key), known)
        hint = f"did you mean {close!r}?" if close else f"known: {', '.join(known)}"
        problems.add(join(path, key), f"unknown key ({hint})")


def type_name(hint: Any) -> str:
    """A reader's name for a type hint: `int`, `int or null`, `list of str`."""
    if _is_union(hint):
        names = [type_name(o) for o in typing.get_args(hint) if o is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in typing.get_args(hint) else "")
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return f"list of {type_name(typing.get_args(hint)[0])}" if typing.get_args(hint) else "list"
    if origin is dict:
        return "mapping"
    return getattr(hint, "__name__", str(hint))


def read_value(hint: Any, value: Any, path: str, problems: Problems, *, text: bool = False) -> Any:
    """`value` read as type `hint` (a dataclass, union, bool, int, float, str, tuple, list, dict);
    FAILED (with a problem added at `path`) when it cannot be."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        instance = read_dataclass(hint, value, problems, path, text=text)
        return FAILED if instance is None else instance
    if _is_union(hint):
        return _read_union(hint, value, path, problems, text=text)
    if value is None:
        problems.add(path, f"may not be empty (expected {type_name(hint)})")
        return FAILED
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return _read_sequence(hint, value, path, problems, text=text)
    if origin is dict:
        return _read_dict(hint, value, path, problems, text=text)
    converted = _read_scalar(hint, value, text=text)
    if converted is FAILED:
        problems.add(path, f"expected {type_name(hint)}, got {_show(value)}")
    return converted


def read_dataclass(cls: type, raw: Any, problems: Problems, path: str = "", *, text: bool = False) -> Any:
    """Build dataclass `cls` from a mapping. Every problem is added (unknown keys, wrong types, missing
    required fields); a field that fails keeps its default so later checks can still run. None when
    `raw` is not a mapping or a required field is missing."""
    if not isinstance(raw, Mapping):
        problems.add(path or "(top level)", f"expected a mapping, got {_show(raw)}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    check_keys(raw, fields, path, problems)
    values: dict[str, Any] = {}
    for name in fields:
        if name in raw:
            value = read_value(hints[name], raw[name], join(path, name), problems, text=text)
            if value is not FAILED:
                values[name] = value
    missing = [n for n, f in fields.items() if n not in raw and _required(f)]
    for name in missing:
        problems.add(join(path, name), "missing")
    required_failed = any(n not in values and _required(fields[n]) for n in fields)
    return None if missing or required_failed else cls(**values)


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its attribute docstring (the string literal under the field), for help texts."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(klass)))
        except (OSError, TypeError):  # no source shipped (a bytecode-only install): no field docs
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)):
                docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def read_yaml(path: str | Path) -> Any:
    """The parsed YAML of a file; ConfigError naming the file (and line) when missing, unreadable or invalid."""
    from tunelab.paths import read_text_bounded

    path = Path(path)
    try:  # a regular file of bounded size: never a FIFO that hangs or /dev/zero that fills memory
        return yaml.safe_load(read_text_bounded(path, what="file"))
    except UsageError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file whose top level must be a mapping (an empty file is an empty mapping)."""
    loaded = read_yaml(path)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return loaded


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _read_union(hint: Any, value: Any, path: str, problems: Problems, *, text: bool) -> Any:
    options = typing.get_args(hint)
    if type(None) in options and (value is None or (text and str(value).strip().lower() in ("", "none", "null"))):
        return None
    candidates = [o for o in options if o is not type(None)]
    for option in candidates:
        trial = Problems()
        converted = read_value(option, value, path, trial, text=text)
        if not trial.items:
            return converted
        if len(candidates) == 1 and any(p.path != path for p in trial.items):
            problems.items.extend(trial.items)  # problems inside a section say more than "expected X or null"
            return converted
    problems.add(path, f"expected {type_name(hint)}, got {_show(value)}")
    return FAILED


def _read_sequence(hint: Any, value: Any, path: str, problems: Problems, *, text: bool) -> Any:
    args = typing.get_args(hint)
    item_hint = args[0] if args else Any
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]  # "a, b" (environment, one flag)
    if not isinstance(value, list | tuple):
        problems.add(path, f"expected {type_name(hint)}, got {_show(value)}")
        return FAILED
    items = [read_value(item_hint, v, join(path, i), problems, text=text) for i, v in enumerate(value)]
    if any(v is FAILED for v in items):
        return FAILED
    return tuple(items) if typing.get_origin(hint) is tuple else items


def _read_dict(hint: Any, value: Any, path: str, problems: Problems, *, text: bool) -> Any:
    key_hint, value_hint = typing.get_args(hint) or (Any, Any)
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a mapping, got {_show(value)}")
        return FAILED
    out = {}
    for key, item in value.items():
        k = read_value(key_hint, key, join(path, key), problems, text=text)
        v = read_value(value_hint, item, join(path, key), problems, text=text)
        if k is not FAILED and v is not FAILED:
            out[k] = v
    return out if len(out) == len(value) else FAILED


def _read_scalar(hint: Any, value: Any, *, text: bool) -> Any:
    if hint is Any:
        return value
    if isinstance(value, str) and (text or hint is float):
        return _parse_text(hint, value.strip())  # YAML 1.1 reads 1e-4 (no dot) as a string
    if hint is bool:
        return value if isinstance(value, bool) else FAILED
    if isinstance(value, bool):
        return FAILED  # True is an int to Python, never to a config
    if hint is int:
        return value if isinstance(value, int) else FAILED
    if hint is float:
        return float(value) if isinstance(value, int | float) else FAILED
    if hint is str:
        return value if isinstance(value, str) else FAILED
    if typing.get_origin(hint) is typing.Literal:
        return value if value in typing.get_args(hint) else FAILED
    return value if isinstance(hint, type) and isinstance(value, hint) else FAILED


def _parse_text(hint: Any, text: str) -> Any:
    try:
        if hint is bool:
            lowered = text.lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else FAILED
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        return FAILED
    if hint is str or hint is Any:
        return text
    if typing.get_origin(hint) is typing.Literal:
        return text if text in typing.get_args(hint) else FAILED
    return FAILED
