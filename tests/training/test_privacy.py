"""Differentially private training (`--privacy dp --epsilon E`): the noise is calibrated so the accountant's ε at
the planned steps is the target, batches are Poisson samples, options that break the guarantee are refused, and
a private run records the ε it spent in its manifest and model card with its embeddings untouched. Left unset,
method, batch size and lr take DP's own defaults (a head on the mean-pooled embedding, large batches, a large rate),
which the manifest names; given ones are kept."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import tunelab
from tunelab.config import TrainConfig, load_config
from tunelab.errors import UsageError
from tunelab.training.defaults import (
    DP_LEARNING_RATES,
    choose_batch_size,
    choose_dp_batch_size,
    choose_lr,
    dp_defaults_taken,
    resolve_defaults,
)
from tunelab.training.privacy import PrivacyPlan, check_private, plan, poisson_batches

DP = TrainConfig(privacy="dp", epsilon=8.0, epochs=3, batch_size=8)


def test_noise_is_calibrated_to_the_target_epsilon() -> None:
    strict, loose = plan(replace(DP, epsilon=1.0), 1000), plan(DP, 1000)
    assert strict.noise_multiplier > loose.noise_multiplier > 0
    for p in (strict, loose):
        assert p.planned_steps == 3 * 125 and p.sample_rate == 8 / 1000 and p.delta == 1e-5
        spent = p.epsilon(p.planned_steps)
        assert p.target_epsilon * 0.97 <= spent <= p.target_epsilon * 1.01
        assert p.epsilon(p.planned_steps // 2) < spent  # stopping early spends less
    assert plan(replace(DP, delta=1e-3), 50).delta == 1e-3 and plan(DP, 50_000).delta == 1 / 500_000


def test_poisson_batches_sample_every_example_independently() -> None:
    lengths = list(np.random.default_rng(0).integers(5, 50, 2000))
    batches = poisson_batches(2000, lengths, 0.01, seed=1, epoch=0, steps=400)
    sizes = [len(b) for b in batches]
    assert len(batches) == 400 and abs(np.mean(sizes) - 20) < 1.5 and len(set(sizes)) > 5
    assert all(lengths[b[i]] >= lengths[b[i + 1]] for b in batches for i in range(len(b) - 1))
    assert batches == poisson_batches(2000, lengths, 0.01, seed=1, epoch=0, steps=400)
    assert batches != poisson_batches(2000, lengths, 0.01, seed=1, epoch=1, steps=400)


@pytest.mark.parametrize("change, message", [
    ({"epsilon": None}, "--epsilon must be given"),
    ({"max_tokens": 512}, "Poisson sampling"),
    ({"precision": "bf16"}, "fp32"),
    ({"frozen_layers": 2}, "--frozen-layers"),
])
def test_options_that_break_the_guarantee_are_refused(change: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_private(replace(DP, **change), per_token=False, resume=False)
    with pytest.raises(UsageError, match="NER"):
        check_private(DP, per_token=True, resume=False)
    with pytest.raises(UsageError, match="cannot be resumed"):
        check_private(DP, per_token=False, resume=True)
    check_private(replace(DP, privacy="none", epsilon=None), per_token=True, resume=True)  # not private: no checks


@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_private_run_records_epsilon_and_keeps_embeddings(intent_csv: Path, tiny_model: Path, tmp_path: Path,
                                                            method: str) -> None:
    summary = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "dp"),
                            method=method, privacy="dp", epsilon=8.0, epochs=3, batch_size=4, lr=5e-3,
                            show_progress=False, seed=1)
    privacy = summary.manifest.privacy
    assert 0 < privacy["epsilon"] <= 8.0 * 1.01 and privacy["steps"] == privacy["planned_steps"]
    assert privacy["noise_multiplier"] > 0 and summary.manifest.precision == "fp32"
    assert "Differential privacy: (ε = " in (tmp_path / "dp" / "README.md").read_text(encoding="utf-8")
    if method == "full":
        base = load_file(str(tiny_model / "model.safetensors"))
        tuned = load_file(str(tmp_path / "dp" / "model.safetensors"))
        word = next(k for k in base if k.endswith("word_embeddings.weight"))
        trained = next(k for k in tuned if k.endswith("word_embeddings.weight"))
        assert np.array_equal(base[word], tuned[trained])  # frozen: no per-example gradients for them
        layer = next(k for k in base if "layer.0.attention.self.query.weight" in k)
        assert not np.array_equal(base[layer], tuned[next(k for k in tuned if k.endswith(layer.split("bert.")[-1]))])
    plain = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "plain"),
                          method=method, epochs=1, batch_size=4, show_progress=False)
    assert plain.manifest.privacy == {}


def test_dp_takes_its_own_defaults_only_for_what_the_user_left_unset() -> None:
    private = load_config(None, ["train.privacy=dp", "train.epsilon=8"])
    resolved = resolve_defaults(private, 2000, [20] * 10, 512, 6)
    assert dp_defaults_taken(private) == ("method", "batch_size", "lr", "dropout")
    t = resolved.train
    assert (t.method, t.batch_size, t.lr, resolved.model.dropout) == ("probe", 128, DP_LEARNING_RATES["probe"], 0.0)
    assert t.lr > choose_lr("probe", 6) and t.batch_size > choose_batch_size(2000)
    given = load_config(None, ["train.privacy=dp", "train.epsilon=8", "train.method=lora", "train.batch_size=32",
                               "train.lr=1e-4"])
    kept = resolve_defaults(given, 2000, [20] * 10, 512, 6)
    assert dp_defaults_taken(given) == ()
    assert (kept.train.method, kept.train.batch_size, kept.train.lr, kept.model.dropout) == ("lora", 32, 1e-4, None)
    only_method = load_config(None, ["train.privacy=dp", "train.epsilon=8", "train.method=full"])
    assert dp_defaults_taken(only_method) == ("batch_size", "lr")  # a fine-tuned encoder keeps its dropout
    assert resolve_defaults(only_method, 2000, [20], 512, 6).train.lr == DP_LEARNING_RATES["full"]
    plain = resolve_defaults(load_config(None, []), 2000, [20] * 10, 512, 6)
    assert dp_defaults_taken(load_config(None, [])) == ()
    assert (plain.train.method, plain.train.batch_size, plain.train.lr, plain.model.dropout) == (
        "full", choose_batch_size(2000), choose_lr("full", 6), None)  # non-private defaults unchanged


@pytest.mark.parametrize("n_train, expected", [(10, 64), (1000, 64), (2000, 128), (9543, 512), (10**6, 1024)])
def test_dp_batch_is_about_a_sixteenth_of_the_data_within_limits(n_train: int, expected: int) -> None:
    assert choose_dp_batch_size(n_train) == expected


def test_a_run_on_dp_defaults_records_them_and_the_accountants_epsilon(intent_csv: Path, tiny_model: Path,
                                                                      tmp_path: Path) -> None:
    from opacus.accountants import RDPAccountant

    summary = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "dp"),
                            privacy="dp", epsilon=3.0, epochs=2, show_progress=False, seed=1)
    privacy = summary.manifest.privacy
    assert summary.manifest.method == "probe" and privacy["method"] == "probe"
    assert privacy["defaults"] == ["method", "batch_size", "lr", "dropout"]
    n_train = summary.manifest.splits["train"]["examples"]
    assert privacy["expected_batch_size"] == choose_dp_batch_size(n_train) and privacy["lr"] == 0.2
    assert privacy["sample_rate"] == min(1.0, privacy["expected_batch_size"] / n_train)
    accountant = RDPAccountant()
    accountant.history = [(privacy["noise_multiplier"], privacy["sample_rate"], privacy["steps"])]
    assert privacy["epsilon"] == round(accountant.get_epsilon(privacy["delta"]), 4) <= 3.0 * 1.01
    fields = PrivacyPlan.__dataclass_fields__
    assert PrivacyPlan(**{k: v for k, v in privacy.items() if k in fields}).epsilon(privacy["steps"]) == \
        pytest.approx(privacy["epsilon"], abs=1e-4)
    card = (tmp_path / "dp" / "README.md").read_text(encoding="utf-8")
    assert "method probe, expected batch 64 (Poisson sampling), lr 0.2 (DP defaults: method, batch_size" in card
    base = load_file(str(tiny_model / "model.safetensors"))
    tuned = load_file(str(tmp_path / "dp" / "model.safetensors"))
    layer = next(k for k in base if "layer.0.attention.self.query.weight" in k)
    assert np.array_equal(base[layer], tuned[next(k for k in tuned if k.endswith(layer.split("bert.")[-1]))])
    assert '"pooling": "mean"' in (tmp_path / "dp" / "config.json").read_text(encoding="utf-8")
    assert privacy["pooling"] == "mean" and "tunelab.pooling = mean" in card
    assert len(tunelab.load(tmp_path / "dp").predict(["where is my card"])) == 1


def test_a_batch_run_in_pieces_takes_the_same_private_step(intent_csv: Path, tiny_model: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import tunelab.training.loop as loop

    cuts: dict[int, list[int]] = {0: [], 1: []}
    budget = 0

    def spy(*args: object) -> list[list[int]]:
        pieces = real(*args)  # type: ignore[arg-type]
        cuts[budget].append(len(pieces))
        return pieces

    real = loop.physical_batches
    monkeypatch.setattr(loop, "physical_batches", spy)
    tuned = {}
    for budget in (0, 1):  # no split, then 1 MB: per-example gradients of the whole model fit a few at a time
        tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / f"b{budget}"),
                      method="full", privacy="dp", epsilon=8.0, epochs=1, batch_size=16, lr=1e-3, dropout=0.0,
                      activation_budget_mb=budget, show_progress=False, seed=3)
        tuned[budget] = load_file(str(tmp_path / f"b{budget}" / "model.safetensors"))
    assert set(cuts[0]) <= {1} and max(cuts[1]) > 2  # the same Poisson batches, cut into pieces the second time
    base = load_file(str(tiny_model / "model.safetensors"))
    key = next(k for k in tuned[0] if k.endswith("layer.0.attention.self.query.weight"))
    assert not np.array_equal(tuned[0][key], base[next(k for k in base if k.endswith(key.split("bert.")[-1]))])
    for name in tuned[0]:  # clipped per example and noised once per batch either way: the same update
        np.testing.assert_allclose(tuned[0][name], tuned[1][name], atol=2e-5, err_msg=name)
