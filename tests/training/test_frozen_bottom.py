"""Frozen bottom layers with their output cached: exact against recomputing them, and really frozen."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import tunelab
from tunelab.training.frozen_bottom import FrozenBottom, find_stack

COMMON = dict(epochs=3, batch_size=4, warmup_ratio=0.0, patience=0, precision="fp32", show_progress=False, lr=5e-3)


@pytest.fixture(scope="module")
def three_layers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import all_texts

    from tunelab.models.tiny import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-3"), all_texts(), layers=3)


def _model(folder: Path) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=3)


def _batch(ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, ids))
    input_ids = torch.zeros((len(ids), width), dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for r, row in enumerate(ids):
        input_ids[r, : len(row)] = torch.tensor(row)
        mask[r, : len(row)] = 1
    return input_ids, mask


def test_a_cached_forward_matches_the_recomputed_one_and_skips_the_bottom(three_layers: Path) -> None:
    model = _model(three_layers)
    stack = find_stack(model)
    assert stack is not None and len(stack.layers) == 3
    bottom = FrozenBottom(model, 2, cache=True)
    model.train()
    assert not stack.embeddings.training and not stack.layers[1].training and stack.layers[2].training
    rows = [[2, 7, 9, 11, 3], [2, 8, 3], [2, 12, 13, 3]]
    ids, mask = _batch(rows)
    model.eval()  # no dropout above the bottom either, so two forwards can be compared
    with bottom.rows([0, 1, 2], [5, 3, 4]):
        first = model(input_ids=ids, attention_mask=mask).logits
    assert bottom.cached_examples == 3 and bottom.take_filled_tokens() == 12
    calls = []
    hook = stack.layers[0].register_forward_hook(lambda *args: calls.append(1))
    order = [2, 0, 1]  # another batch order: the cache is per example
    ids2, mask2 = _batch([rows[i] for i in order])
    with bottom.rows(order, [4, 5, 3]):
        replayed = model(input_ids=ids2, attention_mask=mask2).logits
    hook.remove()
    assert torch.allclose(replayed, first[order], atol=1e-6)
    assert bottom.take_filled_tokens() == 0 and bottom.replayed_tokens == 12
    assert calls == [1]  # layer 0's own forward was not run: the patched forward returned its input
    bottom.close()
    plain = model(input_ids=ids, attention_mask=mask).logits  # outside `rows` and after close: the usual model
    assert torch.allclose(plain, first, atol=1e-6)


def test_training_with_the_cache_gives_the_weights_recomputing_gives(intent_csv: Path, three_layers: Path,
                                                                      tmp_path: Path) -> None:
    """Dropout stays on in the layers above: the frozen ones draw no random numbers, so the streams agree. No dev
    split, so the saved weights are the last epoch's (two of its three started from the cache); with the bottom
    left in train mode (dropout on) they differ by about 0.016."""
    weights = {}
    for name, budget in (("cached", 64), ("recomputed", 0)):
        run = tunelab.train(data=str(intent_csv), model=str(three_layers), output=str(tmp_path / name),
                            frozen_layers=2, layer_cache_mb=budget, dev_fraction=0.0, **COMMON).run_dir
        weights[name] = load_file(str(run / "model.safetensors"))
    assert weights["cached"].keys() == weights["recomputed"].keys()
    for key, value in weights["cached"].items():
        assert torch.allclose(value, weights["recomputed"][key], atol=1e-6), key


def test_the_bottom_stays_put_while_the_top_trains(intent_csv: Path, three_layers: Path, tmp_path: Path) -> None:
    import json

    import yaml

    before = load_file(str(three_layers / "model.safetensors"))
    run = tunelab.train(data=str(intent_csv), model=str(three_layers), output=str(tmp_path / "run"),
                        frozen_layers=2, **COMMON).run_dir
    after = load_file(str(run / "model.safetensors"))

    def moved(suffix: str) -> bool:
        old = next(v for k, v in before.items() if k.endswith(suffix))
        return not torch.equal(old, next(v for k, v in after.items() if k.endswith(suffix)))

    assert not moved("embeddings.LayerNorm.weight")
    assert not moved("encoder.layer.1.attention.self.query.weight")
    assert moved("encoder.layer.2.attention.self.query.weight")
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["frozen_layers"] == 2
    training = json.loads((run / "metrics.json").read_text())["training"]
    assert training["mfu"] > 0


def test_frozen_layers_must_leave_a_layer_to_train(intent_csv: Path, three_layers: Path, tmp_path: Path) -> None:
    from tunelab.errors import UsageError

    with pytest.raises(UsageError, match="frozen_layers"):
        tunelab.train(data=str(intent_csv), model=str(three_layers), output=str(tmp_path / "run"),
                      frozen_layers=3, **COMMON)


def test_auto_freezes_only_known_encoder_families_and_a_given_value_is_checked(tmp_path: Path) -> None:
    import json
    from dataclasses import replace

    from tunelab.config import TrainConfig
    from tunelab.errors import UsageError
    from tunelab.training.defaults import bottom_freezable
    from tunelab.training.loop import freeze_bottom

    for kind, expected in (("bert", True), ("mpnet", True), ("albert", False)):
        (tmp_path / "config.json").write_text(json.dumps({"model_type": kind}), encoding="utf-8")
        assert bottom_freezable(tmp_path) is expected
    assert not bottom_freezable(tmp_path / "absent")
    cfg = replace(TrainConfig(), method="full", frozen_layers=1)
    with pytest.raises(UsageError, match="cannot find the embeddings"):
        freeze_bottom(torch.nn.Linear(4, 4), cfg, [3, 4])
    assert freeze_bottom(torch.nn.Linear(4, 4), replace(cfg, frozen_layers=0), [3, 4]) is None
    assert freeze_bottom(torch.nn.Linear(4, 4), replace(cfg, method="lora"), [3, 4]) is None


def test_checkpoints_leave_out_the_frozen_weights_and_restore_the_trained_ones(three_layers: Path,
                                                                               tmp_path: Path) -> None:
    from tunelab.errors import TrainingError
    from tunelab.training.checkpoint import LoopState, load_checkpoint, save_checkpoint
    from tunelab.training.schedule import build_optimizer, build_scheduler

    def frozen_model(k: int) -> tuple[torch.nn.Module, FrozenBottom]:
        torch.manual_seed(0)
        model = _model(three_layers)
        return model, FrozenBottom(model, k, cache=False)

    model, _ = frozen_model(1)
    optimizer = build_optimizer(model, 1e-2, 0.0)
    scheduler = build_scheduler(optimizer, 0, 10, 1.0)
    ids, mask = _batch([[5, 6, 7], [8, 9]])
    model(input_ids=ids, attention_mask=mask).logits.sum().backward()
    optimizer.step()
    folder = save_checkpoint(tmp_path, model, optimizer, scheduler, LoopState(global_step=1))
    saved = load_file(str(folder / "model.safetensors"))
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained <= set(saved)
    assert not any("embeddings" in k or ".layer.0." in k for k in saved)  # the frozen bottom stays out

    fresh, _ = frozen_model(1)  # rebuilt as a resume does: pretrained bottom, the head from the seed
    fresh_optimizer = build_optimizer(fresh, 1e-2, 0.0)
    load_checkpoint(folder, fresh, fresh_optimizer, build_scheduler(fresh_optimizer, 0, 10, 1.0))
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name

    everything = _model(three_layers)  # a model that trains every weight finds the bottom missing
    other_optimizer = build_optimizer(everything, 1e-2, 0.0)
    with pytest.raises(TrainingError, match="frozen-layers"):
        load_checkpoint(folder, everything, other_optimizer, build_scheduler(other_optimizer, 0, 10, 1.0))
