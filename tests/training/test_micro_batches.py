"""Activation-bounded micro-batches: a long batch is split, and the split step is the whole batch's step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import tunelab
from tunelab.training import batching, loop
from tunelab.training.batching import activation_bytes, micro_batches

MINILM = (384, 12, 6)
E5_SMALL = (384, 12, 12)


def test_a_long_batch_is_cut_into_equal_pieces_that_fit() -> None:
    widths = [488] * 32
    pieces = micro_batches(list(range(32)), widths, E5_SMALL, 4096)
    assert [len(p) for p in pieces] == [8, 8, 8, 8]
    assert [i for p in pieces for i in p] == list(range(32))  # order kept, nothing lost or repeated
    assert all(activation_bytes(len(p), 488, *E5_SMALL) <= 4096 * 2**20 for p in pieces)


def test_short_batches_unknown_models_and_a_zero_budget_stay_whole() -> None:
    assert micro_batches(list(range(32)), [64] * 32, MINILM, 4096) == [list(range(32))]
    assert micro_batches(list(range(32)), [488] * 32, None, 4096) == [list(range(32))]
    assert micro_batches(list(range(32)), [488] * 32, E5_SMALL, 0) == [list(range(32))]


def test_a_text_above_the_budget_on_its_own_still_trains() -> None:
    assert micro_batches([5, 9], [4000, 4000], E5_SMALL, 16) == [[5], [9]]


def test_the_activation_estimate_grows_with_the_square_of_the_width() -> None:
    short, long = activation_bytes(8, 128, *E5_SMALL), activation_bytes(8, 512, *E5_SMALL)
    assert long > 4 * short * 1.5  # the attention term is quadratic


def _train(data: Path, model: Path, out: Path, budget: int, task: str, **extra: object) -> dict[str, torch.Tensor]:
    run = tunelab.train(data=str(data), model=str(model), output=str(out), task=task, epochs=2, batch_size=6,
                        lr=5e-3, warmup_ratio=0.0, patience=0, precision="fp32", dropout=0.0, seed=3,
                        activation_budget_mb=budget, show_progress=False, **extra).run_dir
    return load_file(str(run / "model.safetensors"))


@pytest.mark.parametrize("task, fixture", [("classification", "intent_csv"), ("ner", "ner_conll")])
def test_split_steps_train_the_same_weights_as_whole_ones(task: str, fixture: str, tiny_model: Path,
                                                          tmp_path: Path, request: pytest.FixtureRequest,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny model's activations are far below any budget: pretend it is huge so every batch is cut, and count
    the pieces. Token-tag losses are weighted by scored tokens, not rows: a row-weighted split would differ."""
    data = request.getfixturevalue(fixture)
    whole = _train(data, tiny_model, tmp_path / "whole", 0, task)
    pieces: list[int] = []

    def counted(*args: object) -> list[list[int]]:
        out = batching.micro_batches(*args)  # type: ignore[arg-type]
        pieces.append(len(out))
        return out

    monkeypatch.setattr(loop, "encoder_dims", lambda model: (10**6, 1, 10**3))
    monkeypatch.setattr(loop, "micro_batches", counted)
    split = _train(data, tiny_model, tmp_path / "split", 1, task)
    assert max(pieces) > 1, "no batch was split"
    assert whole.keys() == split.keys()
    for key in whole:
        assert torch.allclose(whole[key], split[key], atol=2e-5), key


def test_distillation_targets_are_counted_by_their_gold_labels() -> None:
    from tunelab.compress.distill import KDBatch
    from tunelab.tasks.base import IGNORE, loss_units

    tags = torch.tensor([[1, 2, IGNORE], [3, IGNORE, IGNORE]])
    assert loss_units(KDBatch(tags, torch.zeros(2, 3, 4), tags != IGNORE)) == 3
    assert loss_units(KDBatch(torch.tensor([0, 1, 1]), torch.zeros(3, 2))) == 3
