"""Layer pruning: the layer choice, a pruned run that loads and predicts, and the gate keeping or refusing it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunelab.compress.prune import spread
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


def test_pruned_run_is_removed_when_refused(run_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.compress import gate as gate_module
    from tunelab.recipes import prune as prune_recipe

    def failing_gate(*args, **kwargs):
        return gate_module.gate(*args[:4], tolerance_points=-1000.0)  # any result is a drop beyond it

    monkeypatch.setattr(prune_recipe, "gate", failing_gate)
    card = prune_recipe.run_prune(run_copy, layers=1, epochs=1, show_progress=False)
    assert not card["passed"] and card["run_path"] is None
    assert not run_copy.with_name("intents-pruned").exists()
