"""The running average of the trained weights (train.ema_decay): its arithmetic, its swap in and out of the model,
and the loop's choice between it and the trained weights on dev."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import tunelab
from tunelab.config import RunConfig, TrainConfig, load_run_config, save_config
from tunelab.errors import TrainingError, UsageError
from tunelab.tasks.base import Evaluation
from tunelab.training import loop
from tunelab.training.checkpoint import LoopState
from tunelab.training.defaults import EMA_DECAY, choose_ema_decay
from tunelab.training.precision import Precision
from tunelab.training.progress import Progress
from tunelab.training.weight_average import WeightAverage
from tunelab.types import TextExample


def _model() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    model[1].weight.requires_grad_(False)  # frozen: not averaged
    return model


def _set(model: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_a_running_mean_first_then_an_exponential_average() -> None:
    model = _model()
    _set(model, 0.0)
    average = WeightAverage(model, decay=0.75, every=1)  # a plain mean over the first 1 / (1 - 0.75) = 4 values
    assert len(average.average) == 3  # the frozen weight is left out
    for value in (1.0, 2.0, 3.0):
        _set(model, value)
        average.step()
    assert all(torch.allclose(t, torch.full_like(t, 1.5)) for t in average.average)  # mean of 0, 1, 2, 3
    _set(model, 4.0)
    average.step()
    assert all(torch.allclose(t, torch.full_like(t, 0.75 * 1.5 + 0.25 * 4.0)) for t in average.average)
    assert average.updates == 4


def test_every_few_steps_with_the_decay_raised_to_their_number() -> None:
    model = _model()
    _set(model, 0.0)
    average = WeightAverage(model, decay=0.5**0.5, every=2)  # per update: 0.5, a mean of the first 2 values
    for value in (1.0, 2.0):  # the weights after step 1 are never seen
        _set(model, value)
        average.step()
    assert average.updates == 1 and all(torch.allclose(t, torch.full_like(t, 1.0)) for t in average.average)
    for value in (3.0, 4.0):
        _set(model, value)
        average.step()
    assert all(torch.allclose(t, torch.full_like(t, 0.5 * 1.0 + 0.5 * 4.0)) for t in average.average)


def test_the_average_is_applied_for_the_duration_and_the_trained_weights_come_back() -> None:
    model = _model()
    _set(model, 1.0)
    average = WeightAverage(model, decay=0.5, every=1)
    _set(model, 3.0)
    average.step()  # average 2.0
    with torch.no_grad():
        model[0].weight[0, 0] = 3.0000002  # a value an fp32 round trip through arithmetic would lose
    before = [p.detach().clone() for p in model.parameters()]
    with average.applied():
        assert torch.equal(model[0].weight, torch.full((2, 2), 2.0))
        assert torch.equal(model[1].weight, torch.full((1, 2), 3.0))  # frozen: untouched
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_checkpoints_average_is_restored_and_one_of_another_model_refused() -> None:
    model = _model()
    average = WeightAverage(model, decay=0.9, every=1)
    _set(model, 5.0)
    average.step()
    saved = {**average.tensors(), "ipt/other": torch.zeros(1)}  # other checkpoint tensors are ignored
    again = WeightAverage(model, decay=0.9, every=1)
    again.restore(saved, average.steps)
    assert again.steps == 1 and all(torch.equal(a, b) for a, b in zip(again.average, average.average))
    with pytest.raises(TrainingError, match="does not fit"):
        WeightAverage(torch.nn.Linear(2, 2), decay=0.9).restore(saved, 1)  # other names
    wider = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    wider[1].weight.requires_grad_(False)
    with pytest.raises(TrainingError, match="does not fit"):
        WeightAverage(wider, decay=0.9).restore(saved, 1)  # the same names, other shapes
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)


def _scored(monkeypatch: pytest.MonkeyPatch, metrics: list[float]) -> list[float]:
    """evaluate_examples answering `metrics` in turn, each with the model's first weight when it was called."""
    scores, seen = iter(metrics), []

    def fake_evaluate(_task: object, model: torch.nn.Module, *_a: object, **_k: object) -> Evaluation:
        seen.append(model.weight[0, 0].item())
        return Evaluation("accuracy", next(scores), {}, [])

    monkeypatch.setattr(loop, "evaluate_examples", fake_evaluate)
    return seen


def _evaluate_at(step: int, final: bool, tmp_path: Path) -> tuple[LoopState, torch.nn.Module]:
    model = torch.nn.Linear(2, 2)
    _set(model, 1.0)
    average = WeightAverage(model, decay=0.5)
    _set(model, 3.0)  # trained weights 3.0, their average still the starting 1.0
    dev = loop.TrainData([TextExample(text=f"q{i}", labels=("a",)) for i in range(100)], [])
    state = LoopState(global_step=step)
    loop._evaluate(model, None, None, dev, state, TrainConfig(), Precision("cpu", "fp32"), 0, tmp_path,
                   Progress(1, enabled=False), {}, average=average, final=final)
    assert torch.equal(model.weight, torch.full((2, 2), 3.0))  # training goes on from the trained weights
    return state, model


def _kept(tmp_path: Path) -> float:
    kept = torch.nn.Linear(2, 2)
    loop.load_model_state(kept, tmp_path / "checkpoints" / "best.safetensors")
    return float(kept.weight[0, 0].item())


def test_before_the_schedules_end_the_average_alone_is_scored_and_kept(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    seen = _scored(monkeypatch, [0.8])
    state, _ = _evaluate_at(5, False, tmp_path)
    assert seen == [1.0]  # one dev pass, on the averaged weights
    assert state.history[-1] == {"step": 5, "epoch": 0, "dev_metric_averaged": 0.8, "dev_metric": 0.8,
                                 "dev_metric_name": "accuracy", "weights": "averaged"}
    assert _kept(tmp_path) == 1.0


@pytest.mark.parametrize(("averaged", "trained", "weights"), [(0.90, 0.80, "averaged"), (0.80, 0.90, "trained"),
                                                              (0.85, 0.85, "trained")])
def test_at_the_schedules_end_the_better_of_the_two_on_dev_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                   averaged: float, trained: float,
                                                                   weights: str) -> None:
    seen = _scored(monkeypatch, [averaged, trained])
    state, _ = _evaluate_at(10, True, tmp_path)
    assert seen == [1.0, 3.0]
    entry = state.history[-1]
    assert entry["weights"] == weights
    assert (entry["dev_metric_trained"], entry["dev_metric_averaged"]) == (trained, averaged)
    assert entry["dev_metric"] == max(trained, averaged) and state.best_metric == max(trained, averaged)
    assert _kept(tmp_path) == (1.0 if weights == "averaged" else 3.0)


def test_full_fine_tuning_averages_by_default_and_dp_refuses_it() -> None:
    assert choose_ema_decay(None, "full", private=False) == EMA_DECAY
    assert choose_ema_decay(None, "lora", private=False) == 0.0
    assert choose_ema_decay(None, "probe", private=True) == 0.0
    assert choose_ema_decay(0.0, "full", private=False) == 0.0
    from tunelab.training.privacy import check_private

    with pytest.raises(UsageError, match="--ema-decay"):
        check_private(TrainConfig(privacy="dp", epsilon=8.0, ema_decay=0.99), per_token=False, resume=False)
    problems = RunConfig(train=TrainConfig(method="adalora", ema_decay=0.99)).problems()
    assert [p.path for p in problems] == ["train.ema_decay"]  # AdaLoRA's masked ranks would be blended
    assert not RunConfig(train=TrainConfig(method="lora", ema_decay=0.99)).problems()


def test_a_run_saved_before_the_average_resumes_without_one(tmp_path: Path) -> None:
    save_config(RunConfig(), tmp_path / "config.yaml")
    text = (tmp_path / "config.yaml").read_text()
    assert "ema_decay" in text
    (tmp_path / "config.yaml").write_text("".join(line for line in text.splitlines(keepends=True)
                                                  if "ema_decay" not in line))
    assert load_run_config(tmp_path).train.ema_decay == 0.0  # its checkpoints hold no average to resume
    save_config(RunConfig(train=TrainConfig(ema_decay=0.99)), tmp_path / "config.yaml")
    assert load_run_config(tmp_path).train.ema_decay == 0.99


def test_a_run_records_both_dev_scores_and_its_resolved_decay(intent_csv: Path, tiny_model: Path,
                                                             tmp_path: Path) -> None:
    summary = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "run"),
                            few_shot="never", epochs=3, batch_size=4, precision="fp32", show_progress=False)
    history = json.loads((summary.run_dir / "history.json").read_text())
    evaluations = [h for h in history if "dev_metric" in h]
    assert len(evaluations) == 3
    assert all(h["weights"] == "averaged" and "dev_metric_trained" not in h for h in evaluations[:-1])
    last = evaluations[-1]
    assert last["dev_metric"] == max(last["dev_metric_trained"], last["dev_metric_averaged"])
    assert "ema_decay: 0.99" in (summary.run_dir / "config.yaml").read_text()
    steps = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "steps"),
                          few_shot="never", epochs=3, batch_size=4, eval_every=5, precision="fp32",
                          show_progress=False)
    total = steps.manifest.timings["steps"]
    assert total % 5  # the last step is not an evaluation step: the last evaluation comes before it
    evaluations = [h for h in json.loads((steps.run_dir / "history.json").read_text()) if "dev_metric" in h]
    assert [("dev_metric_trained" in h) for h in evaluations] == [False] * (len(evaluations) - 1) + [True]
    assert total - 5 < evaluations[-1]["step"] <= total
    off = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "off"),
                        few_shot="never", epochs=1, batch_size=4, precision="fp32", ema_decay=0.0,
                        show_progress=False)
    history = json.loads((off.run_dir / "history.json").read_text())
    assert all("weights" not in h for h in history)
