"""The model card (hub metadata built with huggingface_hub, rendered locally) and config.json's "tunelab"
settings, with which plain transformers reproduces TuneLab's predictions."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import tunelab
from tunelab.artifacts.manifest import load_manifest
from tunelab.config import load_config
from tunelab.models.origin import BaseModelOrigin, find_origin
from tunelab.recipes.card import render_model_card

# the last text is far longer than the runs' max_length (16 tokens): truncation must match too
TEXTS = ["where is my parcel please", "I want my money back now", "hello world", "reset my password please",
         "refund " * 3 + "where is my parcel please " * 12]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any) -> None:
        raise AssertionError("the model card must be built without the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def load_card(path: Path) -> Any:
    from huggingface_hub import ModelCard

    return ModelCard.load(path)  # a local file: parsed, never fetched


@pytest.mark.parametrize(("run", "tag"), [("intents_a", "text-classification"), ("multilabel", "text-classification"),
                                          ("ner", "token-classification")])
def test_card_metadata(served_runs: dict[str, Path], run: str, tag: str) -> None:
    manifest = load_manifest(served_runs[run])
    card = load_card(served_runs[run] / "README.md")
    assert card.data.pipeline_tag == tag and card.data.library_name == "transformers"
    assert card.data.model_name == run and "tunelab" in card.data.tags
    assert card.data.base_model is None  # the tiny test model is a local folder with no hub id
    results = {(r.dataset_split, r.metric_type): r for r in card.data.eval_results}
    (metric, value), = manifest.metrics["test"].items()
    assert results[("test", metric)].metric_value == value and results[("test", metric)].task_type == tag
    assert "model-index:" in card.content and f"{value:.4f}" in card.text


@pytest.mark.usefixtures("no_network")
def test_bundled_base_model_is_named_by_its_hub_id(served_runs: dict[str, Path]) -> None:
    run = served_runs["intents_a"]
    manifest, config = load_manifest(run), load_config(run / "config.yaml")
    expected = {"minilm": "sentence-transformers/all-MiniLM-L6-v2", "mpnet": "sentence-transformers/all-mpnet-base-v2"}
    for name, hub_id in expected.items():
        card = load_card_text(render_model_card(replace(manifest, base_model=name), config, "intents"))
        assert card.data.base_model == hub_id and card.data.license == "apache-2.0"
        assert f"https://huggingface.co/{hub_id}" in card.text


def load_card_text(text: str) -> Any:
    from huggingface_hub import ModelCard

    return ModelCard(text)


def test_origin_of_local_folders(tmp_path: Path, served_runs: dict[str, Path]) -> None:
    hub = tmp_path / "downloaded"
    hub.mkdir()
    (hub / "config.json").write_text(json.dumps({"_name_or_path": "acme/bert-tickets", "model_type": "bert"}))
    (hub / "README.md").write_text("---\nlicense: mit\nbase_model: bert-base-uncased\n---\n# card\n")
    assert find_origin(str(hub)) == BaseModelOrigin("acme/bert-tickets", "mit")
    local = tmp_path / "local"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"_name_or_path": str(hub)}))  # a path, not a hub id
    assert find_origin(str(local)) == BaseModelOrigin(None, None)
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"base_model": "minilm"}))  # a TuneLab run fine-tuned further
    assert find_origin(str(run)).hub_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert find_origin(f"{run}, pruned: 1 of 2 layers").hub_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert find_origin("mpnet cut to 3 layers").hub_id == "sentence-transformers/all-mpnet-base-v2"
    assert find_origin(str(served_runs["ner"])) == BaseModelOrigin(None, None)


def test_config_json_carries_the_inference_settings(served_runs: dict[str, Path]) -> None:
    for name in ("intents_a", "multilabel"):
        manifest = load_manifest(served_runs[name])
        settings = json.loads((served_runs[name] / "config.json").read_text())["tunelab"]
        assert settings["task"] == manifest.task and settings["max_length"] == manifest.max_length
        if name == "multilabel":
            assert settings["thresholds"] == dict(zip(manifest.labels, manifest.task_state["thresholds"]))
        else:
            assert "thresholds" not in settings


def card_snippet(run: Path, texts: list[str]) -> dict[str, Any]:
    """Run the card's plain-transformers snippet (no TuneLab import) on `texts`; its variables come back."""
    text = (run / "README.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[-1]
    assert "tunelab" not in code.replace("model.config.tunelab", "").replace('config.json["tunelab"]', "")
    code = code.replace('"path/to/this/folder"', repr(str(run))).replace('["some text"]', repr(texts))
    scope: dict[str, Any] = {}
    exec(compile(code, "card-snippet", "exec"), scope)
    return scope


def test_plain_transformers_reproduces_multilabel_predictions(served_runs: dict[str, Path]) -> None:
    run = served_runs["multilabel"]
    thresholds = load_manifest(run).task_state["thresholds"]
    assert any(abs(t - 0.5) > 1e-6 for t in thresholds)  # tuned: the config key matters
    ours = tunelab.load(run).predict(TEXTS)
    scope = card_snippet(run, TEXTS)
    assert scope["labels"] == [list(p.labels) for p in ours]
    assert scope["labels"] != [[n for n, s in p.scores.items() if s >= 0.5] for p in ours]  # 0.5 would differ
    import torch

    plain_scores = torch.sigmoid(scope["logits"]).tolist()
    for row, prediction in zip(plain_scores, ours):
        assert row == pytest.approx([prediction.scores[n] for n in scope["names"]], abs=1e-5)


def test_plain_transformers_reproduces_classification_predictions(served_runs: dict[str, Path]) -> None:
    run = served_runs["intents_a"]
    ours = tunelab.load(run).predict(TEXTS)
    scope = card_snippet(run, TEXTS)
    assert scope["labels"] == [p.label for p in ours]
    for row, prediction in zip(scope["logits"].softmax(-1).tolist(), ours):
        assert row == pytest.approx(list(prediction.probabilities.values()), abs=1e-5)


def test_plain_transformers_reproduces_a_case_reading_ner_model(served_runs: dict[str, Path]) -> None:
    import numpy as np

    from tunelab.models.forward import predict_logits
    from tunelab.tasks import wrap_texts

    run, texts = served_runs["ner"], ["Alice visited Paris today", "BOB SMITH works at acme"]
    assert "Words' case" in (run / "README.md").read_text(encoding="utf-8")  # the tiny tokenizer lowercases
    ours = tunelab.load(run)
    encoded = ours.task.encode(wrap_texts(ours.task, texts), ours.tokenizer, ours.label_set, 128)
    expected = predict_logits(ours.model, encoded, batch_size=2, pad_id=0, per_token=True)
    scope = card_snippet(run, texts)
    for row, want in enumerate(expected):
        assert np.abs(scope["logits"][row, : len(want)].numpy() - want).max() < 1e-4
    del scope["batch"]["token_type_ids"]  # without the case the model reads every word as lower case
    plain = scope["model"](**scope["batch"]).logits.detach()
    assert np.abs(plain[0, : len(expected[0])].numpy() - expected[0]).max() > 1e-3


def test_ner_snippet_runs_with_plain_transformers(served_runs: dict[str, Path]) -> None:
    scope = card_snippet(served_runs["ner"], ["Alice flew to Paris"])
    assert len(scope["tags"]) == 1 and all(t == "O" or t[:2] in ("B-", "I-") for t in scope["tags"][0])
