"""A task owns what differs between tasks: no code outside `tasks/` compares a task's name, and the Task
methods that replaced those comparisons (display, outputs, scores, feedback) behave per task."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from tunelab.errors import UsageError
from tunelab.tasks import SPECS, TASK_NAMES, TASKS, get_spec, get_task, task_of_output, wrap_texts
from tunelab.types import ClassPrediction, MultiLabelPrediction, NerPrediction, Span, TextExample, TokenExample

SRC = Path(__file__).resolve().parents[2] / "src" / "tunelab"
COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _names_in(node: ast.AST) -> set[str]:
    """Task names written as a literal in `node`: a string, or strings in a tuple, list or set."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and i.value in TASK_NAMES}


def name_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, task name) for every comparison of something with a task-name literal in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, COMPARISONS) for op in node.ops):
            for side in (node.left, *node.comparators):
                found += [(node.lineno, name) for name in sorted(_names_in(side))]
        elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
            found += [(node.pattern.lineno, name) for name in sorted(_names_in(node.pattern.value))]
    return found


TEMPLATE_COMPARISON = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](""" + "|".join(TASK_NAMES) + r""")["']""")


def test_the_scanner_catches_the_shapes_we_removed() -> None:
    source = ('if task == "ner": pass\nx = t.name != "multilabel"\nok = task in ("classification", "x")\n'
              'y = "ner" == task\nmatch task:\n    case "ner":\n        pass\ndefault = "classification"\n')
    assert [line for line, _ in name_comparisons(source)] == [1, 2, 3, 4, 6]
    assert TEMPLATE_COMPARISON.search('{% if item.task == "classification" %}')


def test_no_code_outside_tasks_compares_a_task_name() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if (SRC / "tasks") in path.parents:
            continue
        offenders += [f"{path.relative_to(SRC)}:{line} compares with {name!r}"
                      for line, name in name_comparisons(path.read_text(encoding="utf-8"))]
    for path in sorted(SRC.rglob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if TEMPLATE_COMPARISON.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{number} compares a task name")
    assert not offenders, "ask the task (tunelab.tasks.get_task(name).spec / its methods) instead:\n" + "\n".join(
        offenders)


def test_every_task_has_its_spec_and_a_real_auto_class() -> None:
    import transformers

    assert set(TASKS) == set(SPECS) == set(TASK_NAMES)
    for name, task in TASKS.items():
        assert task.name == task.spec.name == name and get_spec(name) is task.spec
        assert hasattr(transformers, task.spec.auto_model)
        assert task.spec.output_key and task.spec.formats
    with pytest.raises(UsageError, match="choose one of: classification, multilabel, ner"):
        get_spec("ranking")


def test_facts_that_differ() -> None:
    cls, multi, ner = get_spec("classification"), get_spec("multilabel"), get_spec("ner")
    assert (cls.per_token, multi.per_token, ner.per_token) == (False, False, True)
    assert (cls.single_label, multi.single_label, ner.single_label) == (True, False, False)
    assert (cls.stratify, ner.stratify) == (True, False)
    assert "conll" in ner.formats and "conll" not in cls.formats and "csv" not in ner.formats
    assert ner.auto_model == "AutoModelForTokenClassification"
    assert cls.auto_model == multi.auto_model == "AutoModelForSequenceClassification"


def test_wrap_texts_gives_each_task_its_example_shape() -> None:
    assert wrap_texts(get_task("classification"), ["hi there"]) == [TextExample("hi there")]
    (tokens,) = wrap_texts(get_task("ner"), ["Alice met Bob"])
    assert isinstance(tokens, TokenExample) and tokens.tokens == ("Alice", "met", "Bob")
    assert tokens.tags == ("O", "O", "O") and tokens.offsets[2] == (10, 13)


def test_display_labels() -> None:
    tags = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
    assert get_task("ner").display_labels(tags) == ("LOC", "PER")
    assert get_task("ner").display_labels(("PER", "LOC")) == ("PER", "LOC")  # not IOB2 tags: as they are
    assert get_task("classification").display_labels(("b", "a")) == ("b", "a")
    assert get_task("multilabel").display_labels(["x"]) == ("x",)


CLASS_OUT = {"label": "refund", "score": 0.8, "probabilities": {"refund": 0.8, "shipping": 0.2}}
MULTI_OUT = {"labels": ["refund", "urgent"], "scores": {"refund": 0.9, "urgent": 0.7, "shipping": 0.1}}
NER_OUT = {"spans": [{"start": 0, "end": 5, "label": "PER", "text": "Alice", "score": 0.9},
                     {"start": 14, "end": 19, "label": "LOC", "text": "Paris", "score": 0.6}]}


def test_read_output_and_top_score() -> None:
    cls, multi, ner = get_task("classification"), get_task("multilabel"), get_task("ner")
    assert cls.read_output(CLASS_OUT) == ClassPrediction("refund", 0.8, {"refund": 0.8, "shipping": 0.2})
    assert multi.read_output(MULTI_OUT) == MultiLabelPrediction(("refund", "urgent"), MULTI_OUT["scores"])
    assert ner.read_output(NER_OUT).spans[1] == Span(14, 19, "LOC", "Paris", 0.6)
    assert cls.top_score(cls.read_output(CLASS_OUT)) == 0.8
    assert multi.top_score(multi.read_output(MULTI_OUT)) == 0.9  # the most confident label
    assert ner.top_score(ner.read_output(NER_OUT)) == 0.6  # the least confident entity
    assert ner.top_score(NerPrediction(())) is None and multi.top_score(MultiLabelPrediction(())) is None
    for task, other in ((cls, MULTI_OUT), (multi, NER_OUT), (ner, CLASS_OUT)):
        with pytest.raises(UsageError, match="not a"):
            task.read_output(other)


def test_task_of_output_recognises_each_shape() -> None:
    assert [task_of_output(o).name for o in (CLASS_OUT, MULTI_OUT, NER_OUT)] == list(TASK_NAMES)  # type: ignore
    assert task_of_output({"answer": "hello"}) is None


@pytest.mark.parametrize(("name", "output", "label", "agrees"), [
    ("classification", CLASS_OUT, "refund", True),
    ("classification", CLASS_OUT, "shipping", False),
    ("multilabel", MULTI_OUT, ["urgent", "refund"], True),
    ("multilabel", MULTI_OUT, ["refund"], False),
    ("multilabel", {"labels": ["refund"]}, "refund", True),  # one name for a one-label answer
    ("ner", NER_OUT, [{"start": 14, "end": 19, "label": "LOC"}, {"start": 0, "end": 5, "label": "PER"}], True),
    ("ner", NER_OUT, [{"start": 0, "end": 5, "label": "PER"}], False),
    ("ner", {"spans": []}, [], True),
])
def test_feedback_agrees(name: str, output: dict[str, Any], label: Any, agrees: bool) -> None:
    task = get_task(name)
    assert task.feedback_agrees(task.read_output(output), label) is agrees


@pytest.mark.parametrize(("name", "label", "message"), [
    ("classification", ["refund"], "must be one label name"),
    ("multilabel", [{"start": 0}], "must be a list of label names"),
    ("ner", "PER", "must be a list of spans"),
    ("ner", [{"start": 0, "label": "PER"}], "must be a list of spans"),
])
def test_feedback_of_the_wrong_shape_is_a_usage_error(name: str, label: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        get_task(name).read_feedback(label)


def test_parse_typed_label_per_task() -> None:
    assert get_task("classification").parse_typed_label(" refund ", None, ("refund", "shipping")) == "refund"
    assert get_task("multilabel").parse_typed_label("a, b,", None, ("a", "b")) == ["a", "b"]
    spans = get_task("ner").parse_typed_label("Alice=PER; Paris=LOC", "Alice lives in Paris", ("PER", "LOC"))
    assert spans == [{"start": 0, "end": 5, "label": "PER"}, {"start": 15, "end": 20, "label": "LOC"}]
    with pytest.raises(UsageError, match="unknown label 'x'"):
        get_task("classification").parse_typed_label("x", None, ("refund",))
    with pytest.raises(UsageError, match="unknown labels 'x', 'y'"):
        get_task("multilabel").parse_typed_label("a, x, y", None, ("a",))
    with pytest.raises(UsageError, match="does not appear"):
        get_task("ner").parse_typed_label("Bob=PER", "Alice lives in Paris", ("PER",))
    with pytest.raises(UsageError, match="hash-only"):
        get_task("ner").parse_typed_label("Alice=PER", None, ("PER",))
