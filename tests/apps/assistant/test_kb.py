"""Knowledge base parsing and validation: YAML and CSV; every problem names the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.apps.assistant.conftest import kb_yaml
from tunelab.apps.assistant.kb import load_kb, render_answer
from tunelab.errors import DataError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list:
    with pytest.raises(DataError) as info:
        load_kb(path)
    return info.value.problems


def test_yaml_knowledge_base_loads(tmp_path: Path) -> None:
    kb = load_kb(write(tmp_path, "kb.yaml", kb_yaml("out_of_scope:\n  - what is the weather\n")))
    assert [i.name for i in kb.intents] == ["refund", "shipping", "password"]
    assert kb.intent("refund").examples[0] == "i want my money back"
    assert kb.entry("hello").questions == ("hello world", "hello there world")
    assert kb.out_of_scope == ("what is the weather",)
    assert kb.intents[0].line == 4  # the line of the entry, for messages
    text = render_answer(kb.intent("refund").answer, "where is it?", "refund", kb.variables)
    assert text == "Write to help@example.com about: where is it?"


def test_yaml_errors_name_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", """intents:
  - name: refund
    answer: "Hi {nme}"
    examples: [a b, c d]
  - name: refund
    examples: [e f, g h]
  - name: Bad Name
    answer: x
    examples: [only one]
    colour: red
faq:
  - id: hours
    questions: []
    answer: open
""")
    found = problems(path)
    text = "\n".join(str(p) for p in found)
    assert all(p.path == str(path) for p in found)
    assert any(p.line == 2 and p.column == "answer" and "nme" in p.message for p in found), text
    assert any(p.line == 5 and "used twice" in p.message for p in found), text
    assert any(p.line == 5 and p.column == "answer" and "missing" in p.message for p in found), text
    assert any(p.line == 7 and p.column == "name" for p in found), text
    assert any(p.line == 7 and p.column == "examples" for p in found), text
    assert any(p.line == 10 and p.column == "colour" for p in found), text
    assert any(p.line == 12 and p.column == "questions" for p in found), text


def test_one_intent_and_empty_kb_are_refused(tmp_path: Path) -> None:
    one = write(tmp_path, "one.yaml", "intents:\n  - name: a\n    answer: x\n    examples: [p q, r s]\n")
    assert any("only one intent" in p.message for p in problems(one))
    empty = write(tmp_path, "empty.yaml", "")
    assert any("no intents and no FAQ" in p.message for p in problems(empty))
    assert "not valid YAML" in str(problems(write(tmp_path, "broken.yaml", "intents: [\n"))[0])


def test_csv_knowledge_base(tmp_path: Path) -> None:
    path = write(tmp_path, "kb.csv", "type,id,text,answer\n"
                 "intent,refund,i want my money back,Refunds take 5 days.\n"
                 "intent,refund,please refund my order,\n"
                 "intent,shipping,where is my parcel,On its way.\n"
                 "intent,shipping,track my delivery,\n"
                 "faq,hours,when are you open,9 to 5.\n"
                 "out_of_scope,,what is the weather,\n")
    kb = load_kb(path)
    assert kb.intent("refund").examples == ("i want my money back", "please refund my order")
    assert kb.entry("hours").answer == "9 to 5."
    assert kb.out_of_scope == ("what is the weather",)


def test_csv_errors_name_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, "kb.csv", "type,id,text,answer\n"
                 "intent,refund,a b,One.\n"
                 "intent,refund,c d,Two.\n"
                 "question,x,e f,g\n")
    found = problems(path)
    assert any(p.line == 3 and p.column == "answer" for p in found)
    assert any(p.line == 4 and p.column == "type" for p in found)
    header = write(tmp_path, "h.csv", "kind,text\nintent,a\n")
    assert "type,id,text,answer" in problems(header)[0].message


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    assert "unknown knowledge base format" in problems(write(tmp_path, "kb.txt", "x"))[0].message
    assert "not found" in problems(tmp_path / "nope.yaml")[0].message


def test_the_demo_knowledge_base_is_valid() -> None:
    import tunelab

    kb = load_kb(Path(tunelab.__file__).parent / "demo_data" / "support_kb.yaml")
    assert len(kb.intents) == 20 and len(kb.faq) == 4 and kb.variables["support_email"]
    assert all(len(i.examples) == 12 for i in kb.intents)
