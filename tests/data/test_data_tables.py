"""CSV, TSV and JSONL reading: line numbers, columns, labels, encoding problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunelab.config import DataConfig
from tunelab.data import read_examples
from tunelab.data.encoding import read_text
from tunelab.data.formats import read_file
from tunelab.errors import DataError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_multiline_record_reports_its_first_line(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", 'text,label\nhello,x\n"two\nlines\nhere",y\n\nlast one ,z\n')
    examples = read_examples(path, DataConfig())
    assert [e.source.line for e in examples] == [2, 3, 7]
    assert examples[1].text == "two\nlines\nhere"
    assert examples[2].text == "last one"
    assert examples[0].labels == ("x",)


def test_tsv_and_custom_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tsv", "id\tsentence\tintent\n1\tgood day\tgreet\n2\tbye now\tleave\n")
    examples = read_examples(path, DataConfig(text_column="sentence", label_column="intent"))
    assert [(e.text, e.label, e.source.line) for e in examples] == [("good day", "greet", 2),
                                                                     ("bye now", "leave", 3)]


def test_jsonl_numbers_become_strings(tmp_path: Path) -> None:
    rows = [{"text": "fine", "label": 1}, {"text": "bad", "label": 0}]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    examples = read_examples(path, DataConfig())
    assert [e.labels for e in examples] == [("1",), ("0",)]


def test_multilabel_csv_and_jsonl(tmp_path: Path) -> None:
    config = DataConfig(task="multilabel")
    csv_path = write(tmp_path / "m.csv", "text,label\nplease refund,refund| urgent\ntrack it,shipping\n")
    assert [e.labels for e in read_examples(csv_path, config)] == [("refund", "urgent"), ("shipping",)]
    rows = [{"text": "a", "label": ["x", "y"]}, {"text": "b", "label": "x|z"}, {"text": "c", "label": []}]
    jsonl = write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in rows))
    assert [e.labels for e in read_examples(jsonl, config)] == [("x", "y"), ("x", "z"), ()]


def test_missing_column_names_existing_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "sentence,category\nhi,x\n")
    _, problems = read_file(path, DataConfig())
    messages = [str(p) for p in problems]
    assert len(problems) == 2
    assert "'sentence', 'category'" in messages[0] and "--text-column" in messages[0]
    assert "--label-column" in messages[1]


def test_unlabeled_reads_texts_without_label_column(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "text\nfirst\nsecond\n")
    examples = read_examples(path, DataConfig(), labeled=False)
    assert [(e.text, e.labels) for e in examples] == [("first", ()), ("second", ())]


def test_empty_text_and_missing_label(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "text,label\n  ,x\nok,\nfine,y\n")
    examples, problems = read_file(path, DataConfig())
    assert [e.text for e in examples] == ["fine"]
    assert [(p.line, p.message) for p in problems] == [(2, "empty text"), (3, "missing label")]


def test_jsonl_problems_all_collected(tmp_path: Path) -> None:
    lines = ['{"text": "ok", "label": "a"}', '{"text": "broken"', '["a list"]', '{"text": 5, "label": "a"}',
             '{"text": "no label"}']
    path = write(tmp_path / "a.jsonl", "\n".join(lines))
    examples, problems = read_file(path, DataConfig())
    assert len(examples) == 1
    found = {p.line: p.message for p in problems}
    assert "invalid JSON" in found[2]
    assert "JSON object" in found[3]
    assert "must be a string" in found[4]
    assert found[5] == "missing label"


def test_non_utf8_bytes_reported_with_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\nok,a\ncaf\xe9 time,b\n")
    text, problems = read_text(path)
    assert text is not None and text.startswith("text,label")
    assert len(problems) == 1 and problems[0].line == 3
    assert "byte 0xe9 at column 4" in problems[0].message and "UTF-8" in problems[0].message
    with pytest.raises(DataError) as caught:
        read_examples(path, DataConfig())
    assert ":3" in str(caught.value)


def test_utf16_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("text,label\nhi,a\n".encode("utf-16"))
    _, problems = read_file(path, DataConfig())
    assert [p.message for p in problems] == ["the file is UTF-16 (or UTF-32) encoded; re-save it as UTF-8"]


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    examples, problems = read_file(tmp_path / "nope.csv", DataConfig())
    assert examples == [] and "not found" in problems[0].message


def test_unknown_extension_asks_for_format(tmp_path: Path) -> None:
    path = write(tmp_path / "data.xyz", "text,label\na,b\n")
    _, problems = read_file(path, DataConfig())
    assert "pass --format (csv, tsv, jsonl, conll)" in problems[0].message
    assert len(read_examples(path, DataConfig(format="csv"))) == 1


def test_txt_lines_for_prediction_only(tmp_path: Path) -> None:
    path = write(tmp_path / "questions.txt", "where is my parcel?\n\n  refund please \n")
    examples = read_examples(path, DataConfig(), labeled=False)
    assert [(e.text, e.source.line) for e in examples] == [("where is my parcel?", 1), ("refund please", 3)]
    _, problems = read_file(path, DataConfig())
    assert "read as CoNLL" in problems[0].message


def test_wrong_task_for_format(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "text,label\nhi,x\n")
    _, problems = read_file(path, DataConfig(task="ner"))
    assert "NER data must be CoNLL or JSONL" in problems[0].message
    conll = write(tmp_path / "a.conll", "Alice B-PER\n")
    _, problems = read_file(conll, DataConfig())
    assert "--task ner" in problems[0].message


def test_wrong_field_count_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "text,label\nhello, world,x\n")
    _, problems = read_file(path, DataConfig())
    assert problems[0].line == 2 and "3 fields" in problems[0].message
