"""CoNLL and NER JSONL reading, tag schemes, and word splitting."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.conftest import shared_data

from tunelab.config import DataConfig
from tunelab.data import read_examples, tokenize_words
from tunelab.data.formats import read_file
from tunelab.data.tags import check_tags, detect_scheme, normalise_tags, spans_from_tags
from tunelab.errors import DataError
from tunelab.types import TokenExample

NER = DataConfig(task="ner")

CONLL_2003 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
Smith NNP I-NP B-PER
"""


def test_conll_docstart_lines_and_text(tmp_path: Path) -> None:
    path = tmp_path / "eng.train"
    path.write_text(CONLL_2003, encoding="utf-8")
    examples = read_examples(path, NER)
    assert len(examples) == 2
    first = examples[0]
    assert isinstance(first, TokenExample)
    assert first.source.line == 3 and examples[1].source.line == 9
    assert first.text == "EU rejects German call ."
    assert [first.text[s:e] for s, e in first.offsets] == list(first.tokens)


def test_iob1_conll_normalised_to_iob2(tmp_path: Path) -> None:
    path = tmp_path / "eng.testa"
    path.write_text(CONLL_2003, encoding="utf-8")
    examples = read_examples(path, NER)
    assert examples[0].tags == ("B-ORG", "O", "B-MISC", "O", "O")
    assert examples[1].tags == ("B-PER", "I-PER", "B-PER")


def test_bioes_to_iob2() -> None:
    tags = ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "B-ORG", "E-ORG"]
    assert detect_scheme([tags]) == "bioes"
    assert normalise_tags(tags, "bioes") == ("B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "B-ORG", "I-ORG")
    assert check_tags(tags, "bioes") == []
    assert "must be followed by I-PER or E-PER" in check_tags(["B-PER", "O"], "bioes")[0]
    assert "E-PER at token 2 follows O" in check_tags(["O", "E-PER"], "bioes")[0]
    assert "E-LOC at token 2 follows B-PER" in check_tags(["B-PER", "E-LOC"], "bioes")[1]
    assert "not allowed in IOB2" in check_tags(["S-PER"], "iob2")[0]


def test_bioes_conll_file_and_scheme_names(tmp_path: Path) -> None:
    path = tmp_path / "x.bioes"
    path.write_text("New B-LOC\nYork E-LOC\nis O\nbig S-MISC\n", encoding="utf-8")
    assert read_examples(path, NER)[0].tags == ("B-LOC", "I-LOC", "O", "B-MISC")
    assert read_examples(path, DataConfig(task="ner", tag_scheme="IOBES"))[0].tags[1] == "I-LOC"
    _, problems = read_file(path, DataConfig(task="ner", tag_scheme="bilou2"))
    assert "unknown tag scheme 'bilou2'" in problems[0].message


def test_spans_from_tags_is_strict_iob2() -> None:
    tags = ["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-LOC", "I-LOC", "I-ORG", "B-ORG"]
    assert spans_from_tags(tags) == [("PER", 0, 2), ("LOC", 4, 5), ("LOC", 5, 7), ("ORG", 8, 9)]
    assert spans_from_tags([]) == [] and spans_from_tags(["O", "I-PER"]) == []


def test_detect_scheme() -> None:
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == "iob2"
    assert detect_scheme([["B-PER", "O"], ["I-LOC"]]) == "iob1"
    assert detect_scheme([["B-PER", "I-LOC"]]) == "iob1"


def test_impossible_iob2_sequence_reported_with_sentence_line(tmp_path: Path) -> None:
    assert check_tags(["B-LOC", "O", "I-PER"], "iob2") == [
        "I-PER at token 3 follows O; in IOB2 an entity starts with B-"]
    assert "follows B-LOC" in check_tags(["B-LOC", "I-PER"], "iob2")[0]
    assert "not a tag" in check_tags(["PER"], "iob2")[0]
    path = tmp_path / "x.conll"
    path.write_text("A B-PER\nb O\n\nC B-LOC\nd O\ne I-LOC\n", encoding="utf-8")
    _, problems = read_file(path, DataConfig(task="ner", tag_scheme="iob2"))
    assert len(problems) == 1 and problems[0].line == 4 and "I-LOC at token 3 follows O" in problems[0].message


def test_conll_without_extension_and_unlabelled_reading(tmp_path: Path) -> None:
    path = tmp_path / "train"
    path.write_text("Alice B-PER\nsaw O\n\nBob I-PER\n", encoding="utf-8")
    assert [e.tags for e in read_examples(path, NER)] == [("B-PER", "O"), ("B-PER",)]
    bare = tmp_path / "words.conll"
    bare.write_text("Alice\nsaw\n\nBob I-PER\nx O\n", encoding="utf-8")
    unlabelled = read_examples(bare, DataConfig(task="ner", tag_scheme="iob2"), labeled=False)
    assert [(e.text, e.tags) for e in unlabelled] == [("Alice saw", ("O", "O")), ("Bob x", ("O", "O"))]


def test_ner_jsonl_spans_to_tags(tmp_path: Path) -> None:
    rows = [{"text": "Alice Smith visited Paris.", "spans": [{"start": 0, "end": 11, "label": "PER"},
                                                                {"start": 20, "end": 25, "label": "LOC"}]},
            {"text": "Nothing here", "entities": []}]
    path = tmp_path / "ner.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    examples = read_examples(path, NER)
    assert examples[0].tokens == ("Alice", "Smith", "visited", "Paris", ".")
    assert examples[0].tags == ("B-PER", "I-PER", "O", "B-LOC", "O")
    assert examples[1].tags == ("O", "O") and examples[1].source.line == 2


def test_ner_jsonl_misaligned_and_overlapping_spans(tmp_path: Path) -> None:
    rows = [{"text": "Alice visited Paris", "spans": [{"start": 0, "end": 3, "label": "PER"}]},
            {"text": "Alice visited Paris", "spans": [{"start": 0, "end": 13, "label": "A"},
                                                      {"start": 6, "end": 19, "label": "B"}]},
            {"text": "Alice", "spans": [{"start": 0, "end": 50, "label": "PER"}]}]
    path = tmp_path / "ner.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    examples, problems = read_file(path, NER)
    assert examples == []
    by_line = {p.line: p.message for p in problems}
    assert "word boundaries" in by_line[1] and "'Ali'" in by_line[1]
    assert "overlap" in by_line[2]
    assert "out of range" in by_line[3]


def test_chinese_is_split_character_by_character() -> None:
    words = tokenize_words("我爱北京, ok!")
    assert [w for w, _, _ in words] == ["我", "爱", "北", "京", ",", "ok", "!"]
    assert words[5] == ("ok", 6, 8)
    assert [w for w, _, _ in tokenize_words("東京タワー와 서울 café_1")] == [
        "東", "京", "タ", "ワ", "ー", "와", "서", "울", "café_1"]
    assert tokenize_words("a\u200bb $5.") == [("a", 0, 1), ("b", 2, 3), ("$", 4, 5), ("5", 5, 6), (".", 6, 7)]


def test_chinese_ner_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "zh.jsonl"
    path.write_text(json.dumps({"text": "我在北京", "spans": [{"start": 2, "end": 4, "label": "LOC"}]},
                               ensure_ascii=False), encoding="utf-8")
    assert read_examples(path, NER)[0].tags == ("O", "O", "B-LOC", "I-LOC")


@pytest.mark.integration
def test_full_conll2003_train_reads_cleanly() -> None:
    path = shared_data("conll2003") / "eng.train"
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is absent; CI must have the CoNLL-2003 files in ../shared/data/conll2003")
        pytest.skip(f"{path} is absent")
    from tunelab.data.conll import split_sentences
    from tunelab.data.encoding import read_text

    text, problems = read_text(path)
    assert text is not None and problems == []
    assert detect_scheme(s.tags for s in split_sentences(text, str(path), True, [])) == "iob1"
    examples, problems = read_file(path, NER)
    assert problems == []
    assert len(examples) > 14000
    pairs = [(p, t) for e in examples for p, t in zip(("O",) + e.tags[:-1], e.tags, strict=True)]
    assert all(not t.startswith("I-") or p[2:] == t[2:] for p, t in pairs)


def test_bmes_to_iob2() -> None:
    tags = ["B-PER", "M-PER", "E-PER", "O", "S-LOC", "B-ORG", "E-ORG"]
    assert detect_scheme([["O", "S-LOC"], tags]) == "bmes"  # an M- anywhere decides, even after S-/E-
    assert normalise_tags(tags, "bmes") == ("B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG")
    assert check_tags(tags, "bmes") == []
    assert "in BMES it must be followed by M-PER or E-PER" in check_tags(["B-PER", "O"], "bmes")[0]
    assert "M-PER at token 2 follows O" in check_tags(["O", "M-PER", "E-PER"], "bmes")[0]
    assert "use --tag-scheme bioes" in check_tags(["B-PER", "I-PER", "E-PER"], "bmes")[0]
    assert "use --tag-scheme bmes" in check_tags(["B-PER", "M-PER", "E-PER"], "bioes")[0]


def test_bmes_conll_names_the_bad_sentence(tmp_path: Path) -> None:
    path = tmp_path / "zh.conll"
    path.write_text("张 B-PER\n三 E-PER\n\n北 B-LOC\n京 O\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_examples(path, DataConfig(task="ner", tag_scheme="BMESO"))
    assert "1 data problem" in str(info.value) and "zh.conll:4: impossible BMES tag sequence" in str(info.value)
