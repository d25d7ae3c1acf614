"""Layer pruning: the layer choice, a pruned run that loads and predicts, and the gate keeping or refusing it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunelab.compress.prune import spread
from tunelab.config import load_config
from tunelab.errors import UsageError
from tunelab.inference import Predictor


def test_spread_keeps_the_last_layer_and_evenly_spaced_others() -> None:
    assert spread(6, 3) == [1, 3, 5]
    assert spread(12, 6) == [1, 3, 5, 7, 9, 11]
    assert spread(2, 1) == [1]
    with pytest.raises(UsageError):
        spread(6, 6)
    with pytest.raises(UsageError):
        spread(6, 0)


@pytest.fixture
def run_copy(served_runs: dict[str, Path], tmp_path: Path) -> Path:
    run = tmp_path / "intents"
    shutil.copytree(served_runs["intents_a"], run)
    return run


def test_pruned_run_is_kept_when_it_passes(run_copy: Path) -> None:
    from tunelab.recipes.prune import run_prune

    card = run_prune(run_copy, layers=1, epochs=3, tolerance=100.0, show_progress=False)
    assert card["passed"] and card["kept_layers"] == [1]
    assert card["parameters"] < card["parameters_original"]
    pruned = Predictor.load(card["run_path"])
    assert pruned.model.config.num_hidden_layers == 1
    assert len(pruned.predict(["where is my parcel"])) == 1
    optimized = json.loads((run_copy / "manifest.json").read_text())["artifacts"]["optimized"]
    assert optimized["pruned-1of2"]["passed"] is True
    # the staging folder is gone: config.yaml now names the pruned run itself, the manifest its origin
    config = load_config(Path(card["run_path"]) / "config.yaml")
    assert Path(config.model.name) == Path(card["run_path"]) and (Path(config.model.name) / "config.json").is_file()
    base = json.loads((Path(card["run_path"]) / "manifest.json").read_text())["base_model"]
    assert base.startswith(str(run_copy.resolve())) and "keeping layers [1]" in base
    assert ".prune-" not in (Path(card["run_path"]) / "README.md").read_text()


def test_a_run_with_frozen_layers_is_pruned_below_them(run_copy: Path) -> None:
    """The run's frozen bottom layers were chosen for its depth: a model cut to fewer layers chooses again (a run
    with 1 frozen layer pruned to 1 layer was refused: nothing left to train)."""
    from dataclasses import replace

    from tunelab.config import save_config
    from tunelab.recipes.prune import run_prune

    config = load_config(run_copy / "config.yaml")
    save_config(replace(config, train=replace(config.train, frozen_layers=1, word_embeddings="freeze")),
                run_copy / "config.yaml")
    card = run_prune(run_copy, layers=1, epochs=1, tolerance=100.0, show_progress=False)
    assert card["passed"] and load_config(Path(card["run_path"]) / "config.yaml").train.frozen_layers == 0


def test_pruned_run_is_removed_when_refused(run_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.compress import gate as gate_module
    from tunelab.recipes import prune as prune_recipe

    def failing_gate(*args, **kwargs):
        return gate_module.gate(*args[:4], tolerance_points=-1000.0)  # any result is a drop beyond it

    monkeypatch.setattr(prune_recipe, "gate", failing_gate)
    card = prune_recipe.run_prune(run_copy, layers=1, epochs=1, show_progress=False)
    assert not card["passed"] and card["run_path"] is None
    assert not run_copy.with_name("intents-pruned").exists()


def test_choose_heads_takes_the_weakest_and_keeps_one_per_layer() -> None:
    import numpy as np

    from tunelab.compress.prune import choose_heads

    importance = np.array([[0.1, 0.9, 0.2], [0.05, 0.04, 0.8]])
    assert choose_heads(importance, 2) == {1: [0, 1]}
    assert choose_heads(importance, 3) == {0: [0], 1: [0, 1]}
    assert choose_heads(importance, 4) == {0: [0, 2], 1: [0, 1]}
    with pytest.raises(UsageError, match="one per layer"):
        choose_heads(importance, 5)


def _tiny_classifier(tiny_model: Path):
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(str(tiny_model), num_labels=3).eval()


def test_removed_heads_equal_zeroed_heads_and_reload_from_the_config(tiny_model: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    from tunelab.models.heads import head_slots, load_pretrained, prune_more

    model = _tiny_classifier(tiny_model)
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 13, 14, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    slot = head_slots(model)[1]
    with torch.no_grad():  # a head whose output projection columns are zero contributes nothing
        slot.output.dense.weight[:, : slot.head_size] = 0.0
        expected = model(input_ids=ids, attention_mask=mask).logits
    before = sum(p.numel() for p in model.parameters())
    assert prune_more(model, {1: [0]}) == {1: [0]}
    assert sum(p.numel() for p in model.parameters()) < before  # smaller matrices, not a mask
    assert slot.attention.query.out_features == slot.head_size
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids, attention_mask=mask).logits, expected, atol=1e-5)
    model.save_pretrained(str(tmp_path / "m"), safe_serialization=True)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["pruned_heads"] == {"1": [0]}
    again = load_pretrained(AutoModelForSequenceClassification, tmp_path / "m")
    with torch.no_grad():
        assert torch.allclose(again(input_ids=ids, attention_mask=mask).logits, expected, atol=1e-5)
    # pruning again maps positions back to the original head numbers
    assert prune_more(again, {0: [1]}) == {0: [1], 1: [0]}


def test_head_importance_is_normalised_per_layer(tiny_model: Path) -> None:
    import numpy as np

    from tunelab.compress.prune import head_importance
    from tunelab.tasks import get_task
    from tunelab.tasks.base import Encoded

    model = _tiny_classifier(tiny_model)
    encoded = [Encoded([2, 10 + i, 11 + i, 3], i % 3) for i in range(8)]
    scores = head_importance(model, get_task("classification"), encoded, pad_id=0, batch_size=4)
    assert scores.shape == (2, 2) and np.all(scores >= 0)
    assert np.allclose(np.linalg.norm(scores, axis=1), 1.0, atol=1e-5)
    assert all(p.requires_grad for p in model.parameters())  # restored after scoring


def test_head_pruned_run_trains_reloads_and_exports_to_onnx(run_copy: Path) -> None:
    from tunelab.recipes.export import run_export
    from tunelab.recipes.prune import run_prune

    card = run_prune(run_copy, heads=0.5, epochs=1, tolerance=100.0, show_progress=False)
    assert card["passed"] and card["removed"] == 2 and card["backend"] == "pruned-heads-2of4"
    assert card["parameters"] < card["parameters_original"]
    pruned = Predictor.load(card["run_path"])
    config = json.loads((Path(card["run_path"]) / "config.json").read_text())
    assert {int(k): v for k, v in config["pruned_heads"].items()} == card["pruned_heads"]
    assert all(len(v) == 1 for v in card["pruned_heads"].values())  # one head left in each layer
    result = run_export(card["run_path"], quantize="none", speed_seconds=0.3)
    assert result["artifacts"]["onnx-fp32"]["gate"]["max_abs_logit_diff"] < 1e-4
    onnx = Predictor.load(card["run_path"], backend="onnx-fp32")
    assert onnx.predict(["where is my parcel"])[0].label == pruned.predict(["where is my parcel"])[0].label
    with pytest.raises(UsageError, match="not both"):
        run_prune(run_copy, heads=1, layers=1)
    with pytest.raises(UsageError, match="a count"):
        run_prune(run_copy, heads=1.5)
