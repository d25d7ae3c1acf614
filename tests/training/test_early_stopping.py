"""Early stopping and which checkpoint is kept: training ends once the dev metric stops improving; the model is the
best dev checkpoint, or a later one that dev cannot tell from it (train.keep_checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import tunelab
from tunelab.config import TrainConfig
from tunelab.tasks.base import Evaluation
from tunelab.training import loop
from tunelab.training.checkpoint import LoopState
from tunelab.training.precision import Precision
from tunelab.training.progress import Progress
from tunelab.types import TextExample


def test_stops_when_dev_metric_stalls(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    summary = tunelab.train(data=str(intent_csv), dev=str(intent_csv), test=str(intent_csv),
                            model=str(tiny_model), output=str(tmp_path / "run"), epochs=30, batch_size=6,
                            lr=1e-9, warmup_ratio=0.0, patience=2, precision="fp32", keep_checkpoint="best",
                            show_progress=False)
    timings = summary.manifest.timings
    assert timings["stopped_early"] is True
    assert timings["steps"] == 3 * 3  # 3 steps an epoch; best at epoch 1, then 2 evaluations without gain
    assert timings["best_step"] == 3
    history = json.loads((summary.run_dir / "history.json").read_text())
    assert len([h for h in history if "dev_metric" in h]) == 3


def test_default_keeps_the_latest_of_tied_checkpoints(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    summary = tunelab.train(data=str(intent_csv), dev=str(intent_csv), test=str(intent_csv),
                            model=str(tiny_model), output=str(tmp_path / "run"), epochs=30, batch_size=6,
                            lr=1e-9, warmup_ratio=0.0, patience=2, precision="fp32", show_progress=False)
    timings = summary.manifest.timings
    assert timings["stopped_early"] is True  # a tie is not an improvement: early stopping counts it
    assert timings["steps"] == 9
    assert timings["best_step"] == 9  # ... but the latest tied checkpoint is the model


def _scripted_evaluations(monkeypatch: pytest.MonkeyPatch, metrics: list[float]) -> None:
    scores = iter(metrics)

    def fake_evaluate(*_args: object, **_kwargs: object) -> Evaluation:
        return Evaluation("accuracy", next(scores), {}, [])

    monkeypatch.setattr(loop, "evaluate_examples", fake_evaluate)


@pytest.mark.parametrize(("keep", "metrics", "kept_step", "stopped"), [
    # 1,000 dev examples: one standard error at 0.930 is 0.0081
    ("latest_within_noise", [0.867, 0.911, 0.930, 0.926, 0.927], 5, False),
    ("best", [0.867, 0.911, 0.930, 0.926, 0.927], 3, False),
    ("latest_within_noise", [0.867, 0.911, 0.930, 0.921, 0.927], 5, False),  # 0.921 is 0.009 under: not kept
    ("latest_within_noise", [0.930, 0.921, 0.915, 0.900], 1, True),  # clearly worse: the best stays
])
def test_which_checkpoint_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keep: str,
                                  metrics: list[float], kept_step: int, stopped: bool) -> None:
    _scripted_evaluations(monkeypatch, metrics)
    model = torch.nn.Linear(2, 2)
    dev = loop.TrainData([TextExample(text=f"q{i}", labels=("a",)) for i in range(1000)], [])
    state = LoopState()
    cfg = TrainConfig(keep_checkpoint=keep, patience=3)
    for step in range(1, len(metrics) + 1):
        state.global_step = step
        with torch.no_grad():
            model.weight.fill_(step)  # each evaluation's weights are told apart by their value
        loop._evaluate(model, None, None, dev, state, cfg, Precision("cpu", "fp32"), 0, tmp_path,
                       Progress(1, enabled=False), {})
    assert state.best_step == kept_step
    assert state.best_metric == max(metrics)
    assert state.stopped_early is stopped
    fresh = torch.nn.Linear(2, 2)  # the file on disk holds the kept evaluation's weights
    loop.load_model_state(fresh, tmp_path / "checkpoints" / "best.safetensors")
    assert fresh.weight[0, 0].item() == kept_step


def test_dev_noise_is_a_proportions_standard_error() -> None:
    assert loop.dev_noise(0.93, 1000) == pytest.approx(0.00807, abs=1e-5)
    assert loop.dev_noise(0.93, 0) == 0.0
    assert loop.dev_noise(-2.0, 100) == 0.0  # not a metric in [0, 1]: no tolerance
