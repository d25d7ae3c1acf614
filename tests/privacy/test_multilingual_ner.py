"""Names in Chinese text: a SentencePiece (XLM-R vocabulary) NER run trained on word-level CoNLL finds character
spans in text without spaces, and an English and a multilingual model are chosen per text by its script."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tunelab.privacy import RedactionPolicy, Redactor, build_redactor
from tunelab.privacy.findings import Finding
from tunelab.privacy.ner import NerDetector, ScriptRoutedNer, load_ner, needs_multilingual

# Word-level CoNLL as the English CoNLL-2003 file is (multi-letter words), Chinese sentences one character a word:
# the way tokenize_words cuts raw Chinese text at prediction time.
SENTENCES = [
    ("Alice works in Paris", "B-PER O O B-LOC"),
    ("Bob met Alice in Berlin", "B-PER O B-PER O B-LOC"),
    ("张 三 在 北 京 工 作", "B-PER I-PER O B-LOC I-LOC O O"),
    ("李 四 去 上 海", "B-PER I-PER O B-LOC I-LOC"),
    ("王 小 明 住 在 深 圳", "B-PER I-PER I-PER O O B-LOC I-LOC"),
    ("张 三 和 李 四 在 上 海", "B-PER I-PER O B-PER I-PER O B-LOC I-LOC"),
]


class Recorder:
    """A stand-in detector: remembers the texts it was given and calls every text's first word a person."""

    types = ("person",)

    def __init__(self, name: str) -> None:
        self.name, self.seen = name, []  # type: ignore[var-annotated]

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        self.seen.append(list(texts))
        return [[Finding("person", 0, 1, 0.9, self.name)] for _ in texts]


@pytest.mark.parametrize(("text", "other"), [
    ("Alice from Zürich, José Müller, Łukasz Nguyễn", False), ("call 13800138000 now", False), ("", False),
    ("张三在北京", True), ("Order 42 for 王小明", True), ("Привет, Иван", True), ("東京の田中さん", True)])
def test_texts_with_letters_outside_the_latin_script_need_the_multilingual_model(text: str, other: bool) -> None:
    assert needs_multilingual(text) is other


def test_each_text_goes_to_one_model_by_its_script_and_keeps_its_place() -> None:
    english, multilingual = Recorder("en"), Recorder("xx")
    texts = ["Alice in Paris", "张三在北京", "Bob", "Order for 李四"]
    found = ScriptRoutedNer(english, multilingual).find_many(texts)
    assert english.seen == [["Alice in Paris", "Bob"]]
    assert multilingual.seen == [["张三在北京", "Order for 李四"]]
    assert [row[0].detector for row in found] == ["en", "xx", "en", "xx"]
    only_english = Recorder("en")
    ScriptRoutedNer(only_english, Recorder("xx")).find_many(["just English"])
    assert only_english.seen == [["just English"]]


def test_without_runs_there_is_no_ner_and_all_means_the_pattern_types() -> None:
    assert load_ner(None, None) is None
    assert not build_redactor("all").policy.needs_ner


@pytest.fixture(scope="module")
def xlmr_ner_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NER run on a tiny random-weight BERT with an XLM-R-like SentencePiece tokenizer (as `--model
    multilingual` has), overfitted on SENTENCES."""
    import tunelab
    from tunelab.models.tiny import build_tiny_xlmr

    root = tmp_path_factory.mktemp("xlmr-ner")
    model = build_tiny_xlmr(root / "model", [text for text, _ in SENTENCES])
    data = root / "train.conll"
    data.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(text.split(), tags.split()))
                                for text, tags in SENTENCES) + "\n", encoding="utf-8")
    summary = tunelab.train(data=str(data), dev=str(data), test=str(data), task="ner", model=str(model),
                            output=str(root / "run"), epochs=40, batch_size=3, lr=3e-3, warmup_ratio=0.0,
                            patience=0, precision="fp32", show_progress=False)
    assert summary.manifest.metrics["test"]["f1"] >= 0.95
    return summary.run_dir


def test_sentencepiece_ner_run_gives_character_spans_in_chinese_text_without_spaces(xlmr_ner_run: Path) -> None:
    detector = NerDetector.load(xlmr_ner_run)
    texts = ["李四去上海。", "  张三在北京工作", "Bob met Alice in Berlin"]  # offsets shifted by spaces
    found = detector.find_many(texts)
    spans = [{(f.type, f.start, f.end, text[f.start:f.end]) for f in row} for text, row in zip(texts, found)]
    assert spans[0] == {("person", 0, 2, "李四"), ("location", 3, 5, "上海")}
    assert spans[1] == {("person", 2, 4, "张三"), ("location", 5, 7, "北京")}
    assert spans[2] == {("person", 0, 3, "Bob"), ("person", 8, 13, "Alice"), ("location", 17, 23, "Berlin")}


def test_the_redactor_masks_chinese_names_with_the_multilingual_run_alone_or_beside_an_english_one(
        xlmr_ner_run: Path) -> None:
    alone = build_redactor("person,location", ner_model_multilingual=xlmr_ner_run)
    assert alone.scrub("李四去上海。") == "[PERSON]去[LOCATION]。"
    english = Recorder("en")
    both = Redactor(RedactionPolicy(types=("person", "location")),
                    ner=ScriptRoutedNer(english, NerDetector.load(xlmr_ner_run)))
    assert both.scrub("张三在北京工作") == "[PERSON]在[LOCATION]工作"
    assert both.scrub("Alice works") == "[PERSON]lice works" and english.seen == [["Alice works"]]


def test_settings_accept_a_multilingual_run_alone_for_names() -> None:
    from tunelab.serving import load_settings

    settings = load_settings(env={"TUNELAB_PRIVACY_REDACT": "email,person",
                                  "TUNELAB_PRIVACY_NER_MODEL_MULTILINGUAL": "runs/pii-ner-multilingual"})
    assert settings.privacy_ner_model_multilingual == "runs/pii-ner-multilingual"
