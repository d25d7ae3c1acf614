"""Differentially private training (`--privacy dp --epsilon E`): the noise is calibrated so the accountant's ε at
the planned steps is the target, batches are Poisson samples, options that break the guarantee are refused, and
a private run records the ε it spent in its manifest and model card with its embeddings untouched."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import tunelab
from tunelab.config import TrainConfig
from tunelab.errors import UsageError
from tunelab.training.privacy import check_private, plan, poisson_batches

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
