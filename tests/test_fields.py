"""The one config reader: types from real type hints, nested paths, every problem at once, text or structured values."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tunelab.errors import ConfigError
from tunelab.fields import FAILED, Problems, field_docs, read_dataclass, read_value


@dataclass(frozen=True)
class Inner:
    weights: dict[str, float] = field(default_factory=dict)
    """Per-label weights."""
    ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner | None = None
    ratio: float = 0.5


def test_nested_values_are_read_as_their_hinted_types() -> None:
    found = Problems()
    outer = read_dataclass(Outer, {"name": "x", "inner": {"weights": {"a": 1, "b": "2e-1"}, "ids": [1, 2]},
                                   "ratio": 1}, found)
    assert found.items == []
    assert outer == Outer("x", Inner({"a": 1.0, "b": 0.2}, (1, 2)), 1.0) and type(outer.ratio) is float


def test_text_values_parse_to_the_hinted_type_not_the_hint_text() -> None:
    found = Problems()
    assert read_value(tuple[int, ...], "1, 2,3", "ids", found, text=True) == (1, 2, 3)
    assert read_value(int | None, "null", "n", found, text=True) is None
    assert read_value(float | None, "2.5", "n", found, text=True) == 2.5
    assert read_value(bool, "ON", "b", found, text=True) is True
    assert found.items == []
    assert read_value(int, "1.5", "n", found, text=True) is FAILED
    assert read_value(int, "3", "n", found) is FAILED  # structured YAML: a quoted "3" is text, not an int
    assert [str(p) for p in found.items] == ["n: expected int, got '1.5'", "n: expected int, got '3'"]


def test_every_problem_with_its_dotted_path_and_a_suggestion() -> None:
    found = Problems()
    result = read_dataclass(Outer, {"inner": {"weights": {"a": "heavy"}, "ids": [1, "x"], "wieghts": {}},
                                    "ratoi": 2}, found)
    assert result is None  # `name` is required and missing
    assert {p.path: p.message for p in found.items} == {
        "inner.weights.a": "expected float, got 'heavy'",
        "inner.ids[1]": "expected int, got 'x'",
        "inner.wieghts": "unknown key (did you mean 'weights'?)",
        "ratoi": "unknown key (did you mean 'ratio'?)",
        "name": "missing",
    }
    with pytest.raises(ConfigError) as caught:
        found.raise_any("c.yaml")
    assert str(caught.value).startswith("c.yaml: 5 problems in the config:\n  - ")
    assert caught.value.problems == found.items and caught.value.details == {"file": "c.yaml"}


def test_field_docs_read_the_attribute_docstrings() -> None:
    assert field_docs(Inner) == {"weights": "Per-label weights."}
