"""Per task: the loss falls on a handful of examples; save then load predicts the same; batch equals single."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunelab
from tunelab.types import ClassPrediction, MultiLabelPrediction, NerPrediction

CASES = [("classification", "intent_csv"), ("multilabel", "multilabel_jsonl"), ("ner", "ner_conll")]


def overfit(task: str, data: Path, model: Path, out: Path, **extra: object):
    """Fit a handful of examples: no dropout, so whether it fits does not hang on the dropout's random stream."""
    options: dict[str, object] = {"dropout": 0.0, **extra}
    return tunelab.train(data=str(data), dev=str(data), test=str(data), task=task, model=str(model),
                         output=str(out), epochs=40, batch_size=6, lr=3e-3, warmup_ratio=0.0, patience=0,
                         precision="fp32", show_progress=False, **options)


def texts_of(task: str, data: Path) -> list[str]:
    if task == "ner":
        blocks = data.read_text(encoding="utf-8").split("\n\n")
        return [" ".join(line.split()[0] for line in b.splitlines()) for b in blocks
                if b.strip() and not b.startswith("-DOCSTART-")]
    if data.suffix == ".jsonl":
        return [json.loads(line)["text"] for line in data.read_text(encoding="utf-8").splitlines()]
    return [line.split(",")[0] for line in data.read_text(encoding="utf-8").splitlines()[1:]]


def assert_same(a, b) -> None:
    assert type(a) is type(b)
    if isinstance(a, ClassPrediction):
        assert a.label == b.label
        assert a.score == pytest.approx(b.score, abs=1e-5)
    elif isinstance(a, MultiLabelPrediction):
        assert a.labels == b.labels
    elif isinstance(a, NerPrediction):
        assert [(s.start, s.end, s.label) for s in a.spans] == [(s.start, s.end, s.label) for s in b.spans]


@pytest.mark.parametrize(("task", "fixture"), CASES)
def test_overfit_save_load_batch(task: str, fixture: str, tiny_model: Path, tmp_path: Path,
                                 request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(fixture)
    summary = overfit(task, data, tiny_model, tmp_path / "run")
    history = json.loads((summary.run_dir / "history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3, "loss did not fall"
    test_metric = next(iter(summary.manifest.metrics["test"].values()))
    assert test_metric >= 0.95

    model = tunelab.load(summary.run_dir)
    texts = texts_of(task, data)
    batched = model.predict(texts, batch_size=8)
    single = [model.predict([t])[0] for t in texts]
    for a, b in zip(batched, single):
        assert_same(a, b)
    again = tunelab.load(summary.run_dir).predict(texts, batch_size=8)
    assert again == batched
    evaluation = tunelab.evaluate(summary.run_dir, data)
    assert evaluation.metric == pytest.approx(test_metric, abs=1e-6)


def test_ner_spans_have_character_offsets(ner_conll: Path, tiny_model: Path, tmp_path: Path) -> None:
    summary = overfit("ner", ner_conll, tiny_model, tmp_path / "run")
    text = "Bob Smith works at Acme"
    spans = tunelab.load(summary.run_dir).predict([text])[0].spans
    found = {(s.label, text[s.start:s.end]) for s in spans}
    assert ("PER", "Bob Smith") in found and ("ORG", "Acme") in found


def test_multilabel_thresholds_are_tuned_and_saved(multilabel_jsonl: Path, tiny_model: Path, tmp_path: Path) -> None:
    summary = overfit("multilabel", multilabel_jsonl, tiny_model, tmp_path / "run")
    thresholds = summary.manifest.task_state["thresholds"]
    assert len(thresholds) == 4  # password, refund, shipping, urgent
    assert all(0.0 < t < 1.0 for t in thresholds)


def test_ner_dev_and_test_are_scored_as_the_predictor_tags(ner_conll: Path, tiny_model: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Training truncates at max_length; the Predictor tags a sentence's words past it. The run's dev and test F1
    must be the Predictor's (a long test sentence's last entities were scored as O, 0.6 F1 points on CoNLL-2003)."""
    from tunelab.config import DataConfig
    from tunelab.data import read_examples
    from tunelab.inference import Predictor
    from tunelab.recipes import train as recipe

    long_one = ["Alice", "and", "Bob", "Smith", "visited", "Acme", "in", "Paris", "then", "Carol", "left", "Berlin"]
    tags = ["B-PER", "O", "B-PER", "I-PER", "O", "B-ORG", "O", "B-LOC", "O", "B-PER", "O", "B-LOC"]
    data = ner_conll.with_name("long.conll")
    data.write_text(ner_conll.read_text() + "\n" + "\n".join(f"{w} X X {t}" for w, t in zip(long_one, tags)) + "\n")
    lengths: dict[str, int] = {}
    original = recipe._encode

    def spy(task, split, tokenizer, labels, max_length):
        lengths[split.name] = max_length
        return original(task, split, tokenizer, labels, max_length)

    monkeypatch.setattr(recipe, "_encode", spy)
    summary = overfit("ner", data, tiny_model, tmp_path / "run", max_length=8)
    predictor = Predictor.load(summary.run_dir)
    assert lengths == {"train": 8, "dev": predictor._max_length(), "test": predictor._max_length()} and \
        predictor._max_length() > 8
    examples = read_examples(data, DataConfig(task="ner"))
    assert summary.manifest.metrics["test"]["f1"] == pytest.approx(predictor.evaluate(examples).metric, abs=1e-6)
