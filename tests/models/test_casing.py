"""The words' case for a label per word through a lowercasing tokenizer (models/casing.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunelab
from tests.tasks.test_overfit_roundtrip import overfit
from tunelab.config import RunConfig
from tunelab.models.casing import (
    LOWER,
    MIXED,
    TITLE,
    UPPER,
    add_case_rows,
    case_id_base,
    lowercases,
    mark_tokenizer,
    model_case_id_base,
    pack,
    unpack,
    with_case_of,
    word_case,
)
from tunelab.training.defaults import resolve_defaults

# the same words tagged by their case alone: "Apple" is a company, "apple" a fruit
BY_CASE = [(["we", "like", word], ["O", "O", "B-ORG" if word[0].isupper() else "O"])
           for word in ("Apple", "apple", "Amazon", "amazon", "Shell", "shell")]


def test_word_case_classes() -> None:
    words = ["paris", "Paris", "PARIS", "iPhone", "McDonald", "A", "1999", "", "Élise", "U.S.", "é"]
    assert [word_case(w) for w in words] == [LOWER, TITLE, UPPER, MIXED, MIXED, TITLE, LOWER, LOWER, TITLE, UPPER,
                                             LOWER]


def test_lowercasing_tokenizers_are_told_apart(tiny_model: Path, tmp_path: Path) -> None:
    from tunelab.models.build import load_tokenizer
    from tunelab.models.tiny import build_tiny_xlmr

    assert lowercases(load_tokenizer(tiny_model))
    assert not lowercases(load_tokenizer(build_tiny_xlmr(tmp_path / "xlmr", ["Paris NASA Word"])))


def test_packed_ids_unpack_and_the_new_rows_start_as_the_pretrained_model(tiny_model: Path) -> None:
    import torch
    from transformers import AutoModelForTokenClassification

    from tunelab.models.build import build_model, load_tokenizer

    tokenizer = load_tokenizer(tiny_model)
    words = ["Alice", "visited", "PARIS"]
    encoding = tokenizer(words, is_split_into_words=True)
    plain = list(encoding["input_ids"])
    base = mark_tokenizer(tokenizer)
    packed = pack(plain, encoding.word_ids(), words, base)
    assert packed != plain and unpack(packed, tokenizer) == plain
    assert with_case_of(7, packed[1], tokenizer) == 7 + base * TITLE  # [CLS] first: packed[1] is "alice"

    model = build_model(AutoModelForTokenClassification, tiny_model, ("O", "B-PER")).eval()
    with torch.no_grad():
        before = model(input_ids=torch.tensor([plain])).logits
        add_case_rows(model, base)
        assert model_case_id_base(model) == base and model.config.type_vocab_size == 5
        after = model(input_ids=torch.tensor([packed])).logits
        assert torch.allclose(before, after, atol=1e-6)  # new rows copy the segment-A row
        torch.manual_seed(0)  # a direction, not a constant shift (which the embeddings' LayerNorm removes)
        model.base_model.embeddings.token_type_embeddings.weight[TITLE] += torch.randn(model.config.hidden_size)
        moved = model(input_ids=torch.tensor([packed])).logits
    assert not torch.allclose(before, moved, atol=1e-3)


def _by_case_data(tmp_path: Path) -> Path:
    path = tmp_path / "by_case.conll"
    path.write_text("\n\n".join("\n".join(f"{w} X X {t}" for w, t in zip(words, tags)) for words, tags in BY_CASE)
                    + "\n", encoding="utf-8")
    return path


def test_the_case_feature_learns_what_only_the_case_tells(tiny_model: Path, tmp_path: Path) -> None:
    data = _by_case_data(tmp_path)
    with_case = overfit("ner", data, tiny_model, tmp_path / "on")
    without = overfit("ner", data, tiny_model, tmp_path / "off", case_feature="never")
    assert with_case.manifest.metrics["test"]["f1"] >= 0.99
    # "we like Apple" and "we like apple" are the same ids without the case: they get the same tags
    assert without.manifest.metrics["test"]["f1"] < 0.7

    settings = json.loads((with_case.run_dir / "config.json").read_text())["tunelab"]
    assert settings["case_id_base"] > 0
    assert "case_id_base" not in json.loads((without.run_dir / "config.json").read_text())["tunelab"]
    assert "Words' case" in (with_case.run_dir / "README.md").read_text()

    loaded = tunelab.load(with_case.run_dir)  # the case comes back with the model and its tokenizer
    assert case_id_base(loaded.tokenizer) == settings["case_id_base"]
    found = loaded.predict(["we like Shell", "we like shell"])
    assert [[(s.text, s.label) for s in p.spans] for p in found] == [[("Shell", "ORG")], []]


def _resolved(**model: object) -> RunConfig:
    config = RunConfig()
    config.data.task = "ner"
    for key, value in model.items():
        setattr(config.model, key, value)
    return config


@pytest.mark.parametrize(("n_train", "capable", "given", "expect_case", "expect_frozen"), [
    (2000, True, {}, "always", 0),  # the case rows train in the embeddings: no frozen bottom layer
    (2000, False, {}, "never", 1),  # a cased tokenizer or no token-type table: the frozen layer stays
    (20000, True, {"case_feature": "never"}, "never", 0),
])
def test_case_feature_defaults(n_train: int, capable: bool, given: dict[str, object], expect_case: str,
                               expect_frozen: int) -> None:
    resolved = resolve_defaults(_resolved(**given), n_train, [20] * 10, 128, layers=6, embedding_weights=10**7,
                                case_capable=capable)
    assert (resolved.model.case_feature, resolved.train.frozen_layers) == (expect_case, expect_frozen)


def test_case_feature_is_off_where_the_embeddings_do_not_train() -> None:
    config = _resolved()
    config.train.frozen_layers = 2
    assert resolve_defaults(config, 2000, [20], 128, layers=6, case_capable=True).model.case_feature == "never"
    config = _resolved()
    config.train.method = "lora"
    assert resolve_defaults(config, 2000, [20], 128, layers=6, case_capable=True).model.case_feature == "never"
    config = _resolved(case_feature="always")
    config.train.frozen_layers = 1
    assert [p.path for p in config.problems()] == ["model.case_feature"]


def test_case_feature_on_where_it_cannot_serve_is_refused_before_the_run_folder(tiny_model: Path,
                                                                                tmp_path: Path) -> None:
    from tunelab.errors import UsageError

    data = tmp_path / "intents.csv"
    data.write_text("text,label\nwhere is my parcel,track\nrefund please,refund\n" * 4, encoding="utf-8")
    with pytest.raises(UsageError, match="case_feature always"):
        tunelab.train(data=str(data), dev=str(data), task="classification", model=str(tiny_model),
                      output=str(tmp_path / "run"), epochs=1, case_feature="always", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_yaml_reads_the_modes_and_a_run_saved_before_the_feature_reads_as_never(tmp_path: Path) -> None:
    from tunelab.config import load_config, load_run_config, save_config

    path = tmp_path / "c.yaml"
    path.write_text("data:\n  task: ner\nmodel:\n  case_feature: always\n", encoding="utf-8")
    assert load_config(path).model.case_feature == "always"
    run = tmp_path / "run"
    run.mkdir()
    save_config(load_config(path), run / "config.yaml")
    assert load_run_config(run).model.case_feature == "always"
    (run / "config.yaml").write_text("data:\n  task: ner\nmodel:\n  name: minilm\n", encoding="utf-8")
    assert load_config(run / "config.yaml").model.case_feature == "auto"
    assert load_run_config(run).model.case_feature == "never"  # its checkpoints have no case rows


def test_an_adapter_wrapped_model_still_reports_its_case(tiny_model: Path) -> None:
    from transformers import AutoModelForTokenClassification

    from tunelab.config import TrainConfig
    from tunelab.models.build import apply_method, build_model

    model = build_model(AutoModelForTokenClassification, tiny_model, ("O", "B-PER"))
    add_case_rows(model, 1000, fresh=True)
    wrapped = apply_method(model, TrainConfig(method="lora"), "TOKEN_CLS", 10)
    assert model_case_id_base(wrapped) == 1000


def test_a_fresh_model_with_a_long_token_type_table_starts_its_case_rows_from_row_0(tiny_model: Path) -> None:
    import torch
    from transformers import AutoModelForTokenClassification

    from tunelab.models.build import build_model

    model = build_model(AutoModelForTokenClassification, tiny_model, ("O", "B-PER"))
    table = torch.nn.Embedding(6, model.config.hidden_size)  # as pretrained with six token types
    model.base_model.embeddings.token_type_embeddings = table
    assert not torch.equal(table.weight[TITLE], table.weight[0])
    add_case_rows(model, 1000, fresh=True)
    assert table.num_embeddings == 6 and all(torch.equal(table.weight[r], table.weight[0]) for r in (2, 3, 4))
