"""The NER detector: PER/ORG/LOC spans of a TuneLab NER run become person/organisation/location findings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tunelab.errors import UsageError
from tunelab.privacy import RedactionPolicy, Redactor
from tunelab.privacy.ner import NerDetector
from tunelab.types import NerPrediction, Span


class FixedNer:
    """A stand-in predictor: every text gets the spans of its first matching word list."""

    labels = ["LOC", "MISC", "ORG", "PER"]

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[NerPrediction]:
        out = []
        for text in texts:
            spans = [Span(text.index(word), text.index(word) + len(word), label, word, 0.9)
                     for word, label in (("Alice", "PER"), ("Acme", "ORG"), ("Paris", "LOC"), ("Euro", "MISC"))
                     if word in text]
            out.append(NerPrediction(tuple(spans)))
        return out


def test_entity_labels_map_to_types_and_misc_is_ignored() -> None:
    found = NerDetector(FixedNer()).find_many(["Alice from Acme paid in Euro in Paris", "", "nobody"])
    assert [(f.type, f.start, f.end, f.detector) for f in found[0]] == [
        ("person", 0, 5, "ner"), ("organisation", 11, 15, "ner"), ("location", 32, 37, "ner")]
    assert found[1:] == [[], []]


def test_redactor_combines_ner_and_patterns() -> None:
    redactor = Redactor(RedactionPolicy(types=("person", "email")), ner=NerDetector(FixedNer()))
    assert redactor.scrub("Alice (alice@acme.example) from Acme") == "[PERSON] ([EMAIL]) from Acme"


def test_a_model_without_person_labels_is_refused() -> None:
    class Sentiment:
        labels = ["positive", "negative"]

    with pytest.raises(UsageError, match="PER, ORG, LOC"):
        NerDetector(Sentiment())


def test_a_real_ner_run_loads_and_gives_spans_inside_the_text(served_runs: dict[str, Path]) -> None:
    detector = NerDetector.load(served_runs["ner"])
    texts = ["Alice visited Paris today", "Bob Smith works at Acme"]
    found = detector.find_many(texts)
    assert len(found) == 2
    for text, findings in zip(texts, found):
        for f in findings:
            assert f.type in ("person", "organisation", "location") and 0 <= f.start < f.end <= len(text)
            assert text[f.start:f.end].strip() == text[f.start:f.end]
    with pytest.raises(UsageError, match="not an NER run"):
        NerDetector.load(served_runs["intents_a"])


def test_cli_redacts_names_with_an_ner_model(served_runs: dict[str, Path], tmp_path: Path, monkeypatch: Any,
                                            capsys: Any) -> None:
    from tests.conftest import invoke_cli, isolated_cli_env

    isolated_cli_env(tmp_path, monkeypatch)
    source = tmp_path / "in.csv"
    source.write_text("text\nAlice visited Paris today\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = invoke_cli(["redact", str(source), "-o", str(out), "--types", "person,location,email",
                         "--ner-model", str(served_runs["ner"])], monkeypatch, capsys)
    assert result.code == 0, result.err
    assert "need --ner-model" not in result.out and out.read_text(encoding="utf-8").startswith("text\n")
