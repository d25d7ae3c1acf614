"""Schedule shape, length-grouped batching, checkpoint state round trips."""

from __future__ import annotations

import random

import pytest
import torch

from tunelab.training.batching import padding_efficiency, plan_batches
from tunelab.training.checkpoint import _flatten_optimizer, _unflatten_optimizer
from tunelab.training.defaults import choose_batch_size, choose_epochs, choose_max_length
from tunelab.training.schedule import lr_factor


def test_warmup_then_polynomial_decay() -> None:
    assert lr_factor(0, 10, 110, 1.0) == pytest.approx(0.1)
    assert lr_factor(9, 10, 110, 1.0) == pytest.approx(1.0)
    assert lr_factor(60, 10, 110, 1.0) == pytest.approx(0.5)
    assert lr_factor(60, 10, 110, 2.0) == pytest.approx(0.25)
    assert lr_factor(110, 10, 110, 1.0) == pytest.approx(0.0)


def test_batches_are_deterministic_complete_and_length_grouped() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(1000)]
    a = plan_batches(lengths, 16, seed=1, epoch=0)
    assert a == plan_batches(lengths, 16, seed=1, epoch=0)
    assert a != plan_batches(lengths, 16, seed=1, epoch=1)
    assert sorted(i for b in a for i in b) == list(range(1000))
    random_batches = [list(range(i, min(i + 16, 1000))) for i in range(0, 1000, 16)]
    assert padding_efficiency(lengths, a) > 0.9 > padding_efficiency(lengths, random_batches)


def test_small_data_sets_are_not_sorted_almost_globally() -> None:
    """Mega-batches hold at most a quarter of the data: with 50 x 32 of 2,000 sentences (the old rule) the batch
    with the longest sentence held 24 of the 32 longest, i.e. batches were one length each (1.5 F1 on CoNLL)."""
    from tunelab.training.batching import mega_batch_size

    assert mega_batch_size(2000, 32) == 15 * 32
    assert mega_batch_size(14041, 32) == 50 * 32  # large data sets keep 50 batches per mega-batch
    assert mega_batch_size(10, 32) == 32
    rng = random.Random(2)
    lengths = [rng.randint(5, 60) * 1000 + i for i in range(2000)]  # all distinct
    batches = plan_batches(lengths, 32, seed=0, epoch=0)
    longest = set(sorted(range(2000), key=lambda i: -lengths[i])[:32])
    holding = next(b for b in batches if max(longest, key=lambda i: lengths[i]) in b)
    assert len(longest & set(holding)) <= 16
    assert padding_efficiency([x // 1000 for x in lengths], batches) > 0.9  # still length-grouped


def test_defaults_from_data() -> None:
    assert choose_epochs(200) > choose_epochs(20000)
    assert choose_epochs(200, deep_full=True) == 3 and choose_epochs(9600, deep_full=True) == 3
    # smaller batches below 3,000 examples: at 2,079 Banking77 questions batch 32 left too few steps
    assert choose_batch_size(2079) == 16 and choose_batch_size(2999) == 16 and choose_batch_size(3000) == 32
    assert choose_max_length([10] * 996 + [300] * 4, 512) == 16
    assert choose_max_length(list(range(1, 101)), 64) == 64


def test_optimizer_state_round_trips_without_pickle() -> None:
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    tensors, meta = _flatten_optimizer(opt.state_dict())
    restored = _unflatten_optimizer(tensors, meta)
    opt2 = torch.optim.AdamW(model.parameters(), lr=0.1)
    opt2.load_state_dict(restored)
    for k, v in opt.state_dict()["state"][0].items():
        assert torch.equal(v, opt2.state_dict()["state"][0][k])


def test_token_budget_batches_fit_the_budget_and_cover_every_example() -> None:
    from tunelab.training.batching import count_steps

    rng = random.Random(1)
    lengths = [rng.randint(4, 120) for _ in range(500)]
    batches = plan_batches(lengths, 16, seed=3, epoch=0, max_tokens=1024)
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(len(b) * max(lengths[i] for i in b) <= 1024 for b in batches)
    sizes = {len(b) for b in batches}
    assert max(sizes) > 16 > min(sizes)  # short texts travel in bigger batches than long ones
    assert batches == plan_batches(lengths, 16, seed=3, epoch=0, max_tokens=1024)
    assert count_steps(lengths, 16, 3, 2, 1024) == sum(
        len(plan_batches(lengths, 16, 3, e, max_tokens=1024)) for e in range(2))
    assert count_steps(lengths, 16, 3, 2) == 2 * 32
    one = plan_batches([200, 10], 16, seed=0, epoch=0, max_tokens=50)  # a text longer than the budget goes alone
    assert sorted(map(len, one)) == [1, 1]


def test_full_fine_tuning_of_deeper_encoders_defaults_to_a_smaller_rate(tmp_path) -> None:
    import json

    from tunelab.config import load_config
    from tunelab.training.defaults import LEARNING_RATES, choose_lr, model_depth, resolve_defaults

    (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": 12}), encoding="utf-8")
    assert model_depth(tmp_path) == 12 and model_depth(tmp_path / "missing") is None
    assert choose_lr("full", 6) == LEARNING_RATES["full"] == 2e-4  # MiniLM (6 layers) keeps its measured rate
    assert choose_lr("full", None) == 2e-4
    assert choose_lr("full", 12) == 3e-5  # multilingual-e5-small, MPNet, BERT-base
    assert choose_lr("lora", 12) == LEARNING_RATES["lora"]  # adapters keep theirs
    config = load_config(None, [])
    assert resolve_defaults(config, 1000, [20] * 10, 512, 12).train.lr == 3e-5
    assert resolve_defaults(load_config(None, ["train.lr=1e-4"]), 1000, [20], 512, 12).train.lr == 1e-4


def test_few_class_classifiers_fine_tune_small_encoders_at_half_the_rate() -> None:
    from tunelab.config import load_config
    from tunelab.training.defaults import FEW_CLASS_FULL_LR, LOGIT_NORM_FROM_CLASSES, choose_lr, resolve_defaults

    assert choose_lr("full", 6, 3) == FEW_CLASS_FULL_LR == 1e-4  # Twitter, 2,000 tweets: +5 points on average
    assert choose_lr("full", 6, LOGIT_NORM_FROM_CLASSES - 1) == 1e-4
    assert choose_lr("full", 6, LOGIT_NORM_FROM_CLASSES) == 2e-4  # many classes (LogitNorm) keep the higher rate
    assert choose_lr("full", 12, 3) == 3e-5  # deeper encoders keep theirs
    assert choose_lr("lora", 6, 3) == 5e-4  # and adapters

    def lr(overrides: list[str], classes: int) -> float:
        return resolve_defaults(load_config(None, overrides), 2000, [20] * 10, 512, 6, classes=classes).train.lr

    assert lr([], 3) == 1e-4 and lr([], 77) == 2e-4
    assert lr(["data.task=ner"], 9) == 2e-4  # a label per word: 9 tags are not 9 classes (CoNLL preferred 2e-4)
    assert lr(["data.task=multilabel"], 5) == 2e-4  # unmeasured: the rate it had
    assert lr(["train.lr=3e-4"], 3) == 3e-4  # a given rate is kept


def test_a_label_per_word_trains_a_small_encoder_without_dropout_on_enough_sentences() -> None:
    from tunelab.config import load_config
    from tunelab.training.defaults import NO_DROPOUT_PER_TOKEN_FROM, choose_dropout, resolve_defaults

    enough = NO_DROPOUT_PER_TOKEN_FROM
    assert choose_dropout(None, "full", True, 6, enough) == 0.0  # CoNLL-2003 on MiniLM: as accurate, 1.14-1.17x
    assert choose_dropout(None, "full", True, 6, enough - 1) is None  # fewer sentences: the base model's own
    assert choose_dropout(None, "full", False, 6, 10 * enough) is None  # a label per text keeps it (Banking77)
    assert choose_dropout(None, "full", True, 12, enough) is None  # deeper encoders: unmeasured
    assert choose_dropout(None, "lora", True, 6, enough) is None
    assert choose_dropout(None, "full", True, 6, enough, private=True) is None
    assert choose_dropout(0.2, "full", True, 6, enough) == 0.2  # a given rate is kept

    def dropout(overrides: list[str], n: int = enough) -> float | None:
        return resolve_defaults(load_config(None, overrides), n, [20] * 10, 512, 6).model.dropout

    assert dropout(["data.task=ner"]) == 0.0 and dropout(["data.task=ner"], enough - 1) is None
    assert dropout([]) is None and dropout(["data.task=ner", "model.dropout=0.1"]) == 0.1


def test_large_word_embedding_matrices_are_frozen_by_default(tmp_path) -> None:
    import json

    from tunelab.config import load_config
    from tunelab.training.defaults import resolve_defaults, word_embedding_weights

    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 30522, "hidden_size": 384}), encoding="utf-8")
    assert word_embedding_weights(tmp_path) == 30522 * 384 and word_embedding_weights(tmp_path / "no") is None
    config = load_config(None, ["train.frozen_layers=0"])  # frozen bottom layers freeze the embeddings anyway
    assert resolve_defaults(config, 1000, [20], 512, 6, 30522 * 384).train.word_embeddings == "freeze"  # MiniLM
    assert resolve_defaults(config, 1000, [20], 512, 2, 500 * 32).train.word_embeddings == "train"  # a tiny model
    assert resolve_defaults(config, 1000, [20], 512, 6, None).train.word_embeddings == "train"  # unknown: as is
    assert resolve_defaults(config, 1000, [20], 512, 12, 250037 * 384).train.word_embeddings == "train"  # e5-small
    assert resolve_defaults(config, 1000, [20], 512, None, 30522 * 384).train.word_embeddings == "train"
    given = load_config(None, ["train.word_embeddings=train"])
    assert resolve_defaults(given, 1000, [20], 512, 6, 30522 * 384).train.word_embeddings == "train"


def test_the_bottom_third_of_a_small_encoder_is_frozen_by_default() -> None:
    from tunelab.config import load_config
    from tunelab.errors import ConfigError
    from tunelab.training.defaults import ALL_LAYERS_PER_TOKEN_FROM, resolve_defaults

    def frozen(*overrides: str, layers: int | None = 6, freezable: bool = True, n_train: int = 1000,
               classes: int | None = None) -> int | None:
        return resolve_defaults(load_config(None, list(overrides)), n_train, [20], 512, layers,
                                30522 * 384, freezable, classes=classes).train.frozen_layers

    assert frozen() == 2  # MiniLM: 2 of 6, and the embeddings with them
    assert resolve_defaults(load_config(None, []), 1000, [20], 512, 6, None).train.word_embeddings == "freeze"
    assert frozen(layers=3) == 1 and frozen(layers=2) == 0  # the tests' tiny models train every layer
    assert frozen(layers=12) == 0 and frozen(layers=None) == 0  # deeper or unknown: every layer trains
    assert frozen("train.method=lora") == 0 and frozen("train.word_embeddings=train") == 0
    assert frozen(classes=77) == 2 and frozen(classes=20) == 2  # many classes (Banking77): a third
    assert frozen(classes=3) == 0 and frozen(classes=19) == 0  # few (Twitter sentiment): every layer trains
    assert frozen("data.task=multilabel", classes=3) == 2  # the line is for single-label classifiers only
    assert frozen("data.task=ner") == 1  # a label per word: a sixth
    assert frozen("data.task=ner", classes=9) == 1  # (its 9 tags are not a few-class single label)
    many = ALL_LAYERS_PER_TOKEN_FROM
    assert frozen("data.task=ner", n_train=many) == 0  # ... until it has enough sentences to train every layer
    assert frozen(n_train=many) == 2
    assert frozen(freezable=False) == 0 and frozen("train.frozen_layers=1", freezable=False) == 1
    assert frozen("train.privacy=dp", "train.epsilon=8", "train.method=full") == 0
    assert frozen("train.frozen_layers=4") == 4 and frozen("train.frozen_layers=1", layers=12) == 1
    with pytest.raises(ConfigError, match="train.frozen_layers"):
        load_config(None, ["train.frozen_layers=2", "train.word_embeddings=train"]).validate()
