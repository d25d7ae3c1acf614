"""Chinese NER: character-level BMES CoNLL trains, and raw text is cut per character with offsets into it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunelab
from tunelab.data.conll import read_conll
from tunelab.tasks import get_task
from tunelab.types import TokenExample

SENTENCES = [
    ("张三在北京工作", "B-PER E-PER O B-LOC E-LOC O O"),
    ("李四去上海", "B-PER E-PER O B-LOC E-LOC"),
    ("王小明住在深圳市", "B-PER M-PER E-PER O O B-LOC M-LOC E-LOC"),
    ("马云创办了阿里巴巴", "B-PER E-PER O O O B-ORG M-ORG M-ORG E-ORG"),
    ("腾讯总部在深圳", "B-ORG E-ORG O O O B-LOC E-LOC"),
    ("张三和李四在京见面", "B-PER E-PER O B-PER E-PER O S-LOC O O"),
    ("王小明去阿里巴巴上班", "B-PER M-PER E-PER O B-ORG M-ORG M-ORG E-ORG O O"),
    ("李四在腾讯工作", "B-PER E-PER O B-ORG E-ORG O O"),
]


def write_char_conll(path: Path) -> Path:
    lines: list[str] = []
    for text, tags in SENTENCES:
        lines += [f"{char} {tag}" for char, tag in zip(text, tags.split())] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_char_level_conll_is_read_as_characters(tmp_path: Path) -> None:
    examples, problems = read_conll(write_char_conll(tmp_path / "zh.conll").read_text("utf-8"), "zh.conll")
    assert problems == []
    first = examples[2]
    assert first.text == "王小明住在深圳市" and first.split == "chars"
    assert first.tags == ("B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "I-LOC")
    assert [first.text[s:e] for s, e in first.offsets] == list(first.text)
    assert examples[5].tags[6] == "B-LOC"  # S-LOC
    assert get_task("ner").reading_state(examples) == {"word_split": "chars"}


def test_word_level_conll_stays_words() -> None:
    examples, _ = read_conll("北京 B-LOC\n欢迎 O\n你 O\n", "seg.conll")
    assert examples[0].text == "北京 欢迎 你" and examples[0].split == "words"
    assert get_task("ner").reading_state(examples) == {"word_split": "words"}


def test_raw_text_is_cut_like_the_training_data() -> None:
    task = get_task("ner")
    text = "我用 iPhone15"
    chars = task.wrap_text(text, {"word_split": "chars"})
    words = task.wrap_text(text, {"word_split": "words"})
    old = task.wrap_text(text, {})  # runs trained before the split was recorded
    assert isinstance(chars, TokenExample) and isinstance(words, TokenExample)
    assert chars.tokens == ("我", "用", "i", "P", "h", "o", "n", "e", "1", "5")
    assert [text[s:e] for s, e in chars.offsets] == list(chars.tokens)
    assert words.tokens == ("我", "用", "iPhone15") == old.tokens  # type: ignore[union-attr]


def test_sentencepiece_tags_sit_on_the_character_not_on_a_lone_metaspace(tmp_path: Path) -> None:
    from tunelab.models.build import load_tokenizer
    from tunelab.models.tiny import build_tiny_xlmr

    folder = build_tiny_xlmr(tmp_path / "xlmr", [t for t, _ in SENTENCES] + ["hello"])
    tokenizer = load_tokenizer(folder)
    task = get_task("ner")
    example = task.wrap_text("张三 hello", {"word_split": "chars"})
    labels = task.build_labels([TokenExample(("张",), ("B-PER",), "张", ((0, 1),))])
    (encoded,) = task.encode([example], tokenizer, labels, 64)
    pieces = tokenizer.convert_ids_to_tokens(encoded.input_ids)
    assert pieces[:3] == ["<s>", "张", "三"]  # no "▁" before each character
    assert "▁" in pieces  # the Latin word's "▁h..." pieces keep their word-start mark
    assert encoded.word_ids[1:3] == [0, 1]


@pytest.mark.parametrize("builder", ["bert", "xlmr"])
def test_char_level_bmes_overfits_and_predicts_offsets_in_the_original_text(builder: str, tmp_path: Path) -> None:
    from tunelab.models.tiny import build_tiny_bert, build_tiny_xlmr

    texts = [" ".join(text) for text, _ in SENTENCES]  # one vocabulary entry per character
    build = build_tiny_bert if builder == "bert" else build_tiny_xlmr
    model = build(tmp_path / "model", texts)
    data = write_char_conll(tmp_path / "train.conll")
    summary = tunelab.train(data=str(data), dev=str(data), test=str(data), task="ner", model=str(model),
                            output=str(tmp_path / "run"), epochs=40, batch_size=4, lr=3e-3, warmup_ratio=0.0,
                            patience=0, precision="fp32", show_progress=False)
    assert summary.manifest.metrics["test"]["f1"] >= 0.95
    manifest = json.loads((summary.run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["task_state"]["word_split"] == "chars"

    text = " 李四  在北京工作。"  # spaces and punctuation the training data never had
    spans = tunelab.load(summary.run_dir).predict([text])[0].spans
    found = {(s.label, s.start, s.end, s.text) for s in spans}
    assert found == {("PER", 1, 3, "李四"), ("LOC", 6, 8, "北京")}


def test_jsonl_character_spans_on_chinese_text() -> None:
    from tunelab.data.conll import read_ner_jsonl

    line = json.dumps({"text": "张三在北京工作", "spans": [{"start": 0, "end": 2, "label": "PER"},
                                                         {"start": 3, "end": 5, "label": "LOC"}]}, ensure_ascii=False)
    (example,), problems = read_ner_jsonl(line, "zh.jsonl")
    assert problems == []
    assert example.tokens == tuple("张三在北京工作")
    assert example.tags == ("B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O")
