"""Distillation: the KD loss against a reference, the targets it collates, and whole runs on the tiny model
(kept with the teacher recorded, refused and removed, NER)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import INTENTS
from tunelab.compress.distill import DistillTask, KDSettings, KDTarget, kd_loss
from tunelab.config import load_config
from tunelab.errors import UsageError
from tunelab.inference import Predictor
from tunelab.tasks import get_task
from tunelab.tasks.base import IGNORE, Encoded, collate


def test_kd_loss_matches_torch_kl_div_scaled_by_t_squared() -> None:
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 4), torch.randn(5, 4)
    t = 3.0
    reference = torch.nn.functional.kl_div(torch.log_softmax(student / t, -1), torch.log_softmax(teacher / t, -1),
                                           reduction="batchmean", log_target=True) * t * t
    assert torch.allclose(kd_loss("classification", student, teacher, t), reference, atol=1e-6)
    assert float(kd_loss("classification", teacher, teacher, t)) == pytest.approx(0.0, abs=1e-6)


def test_kd_loss_for_ner_counts_only_masked_tokens() -> None:
    torch.manual_seed(1)
    student, teacher = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    mask = torch.tensor([[True, False, True], [False, False, True]])
    garbage = teacher.clone()
    garbage[~mask] = 100.0  # positions outside the mask must not matter
    assert torch.allclose(kd_loss("ner", student, teacher, 2.0, mask), kd_loss("ner", student, garbage, 2.0, mask))
    assert torch.allclose(kd_loss("ner", student, teacher, 2.0, mask),
                          kd_loss("classification", student[mask], teacher[mask], 2.0))


def test_kd_loss_multilabel_is_smallest_at_the_teacher() -> None:
    teacher = torch.tensor([[4.0, -4.0, 0.5]])
    at_teacher = kd_loss("multilabel", teacher.clone(), teacher, 2.0)
    elsewhere = kd_loss("multilabel", -teacher, teacher, 2.0)
    assert float(at_teacher) < float(elsewhere)


def test_distill_task_mixes_teacher_and_gold_by_alpha() -> None:
    base = get_task("classification")
    items = [Encoded([2, 7, 3], 0), Encoded([2, 8, 9, 3], 1)]
    teacher = [np.array([0.0, 5.0], dtype=np.float32), np.array([5.0, 0.0], dtype=np.float32)]
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.7]])
    gold_only = base.loss(logits, torch.tensor([0, 1]))
    for alpha in (0.0, 0.3, 1.0):
        task = DistillTask(base, {}, KDSettings(alpha=alpha, temperature=2.0))
        batch = [Encoded(e.input_ids, KDTarget(e.target, row)) for e, row in zip(items, teacher)]
        targets = collate(task, batch, pad_id=0)["targets"].to("cpu")
        expected = alpha * kd_loss("classification", logits, torch.from_numpy(np.stack(teacher)), 2.0) \
            + (1 - alpha) * gold_only
        assert torch.allclose(task.loss(logits, targets), expected, atol=1e-6)


def test_ner_teacher_rows_land_on_the_labelled_positions() -> None:
    task = DistillTask(get_task("ner"), {}, KDSettings())
    rows = np.arange(6, dtype=np.float32).reshape(2, 3)  # two words, three tags
    item = Encoded([2, 10, 11, 12, 3], KDTarget([IGNORE, 1, IGNORE, 2, IGNORE], rows))
    targets = task.collate_targets([item], width=6)
    assert targets.mask.tolist() == [[False, True, False, True, False, False]]
    assert targets.teacher[0, 1].tolist() == [0.0, 1.0, 2.0] and targets.teacher[0, 3].tolist() == [3.0, 4.0, 5.0]
    assert targets.gold[0].tolist()[:5] == [IGNORE, 1, IGNORE, 2, IGNORE]


def test_settings_are_checked() -> None:
    with pytest.raises(UsageError, match="alpha"):
        KDSettings(alpha=1.5).check()
    with pytest.raises(UsageError, match="temperature"):
        KDSettings(temperature=0).check()


@pytest.fixture
def teacher_copy(served_runs: dict[str, Path], tmp_path: Path) -> Path:
    run = tmp_path / "intents"
    shutil.copytree(served_runs["intents_a"], run)
    return run


def test_student_cut_to_one_layer_learns_from_the_teacher(teacher_copy: Path, tiny_model: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.compress import distill as distill_module
    from tunelab.recipes import distill as recipe

    calls: list[int] = []
    original = distill_module.teacher_logits

    def counting(teacher, examples, batch_size=64):
        calls.append(len(examples))
        return original(teacher, examples, batch_size)

    monkeypatch.setattr(recipe, "teacher_logits", counting)
    card = recipe.run_distill(teacher_copy, student=str(tiny_model), layers=1, epochs=20, lr=3e-3, alpha=1.0,
                              tolerance=100.0, show_progress=False)
    assert len(calls) == 1  # the teacher ran once over the training data, not per step
    assert card["passed"] and card["kept_layers"] == [1] and card["parameters"] < card["parameters_teacher"]
    # alpha = 1: the student never saw a gold label, so agreeing with the teacher is learnt from its logits. Measured
    # on the 18 training texts: an unlearnt student says one class for all (agreement 1/3). The tiny teacher is
    # unsure between refund and shipping (top probability ~0.5), so a 1-layer student may not split those two.
    student = Predictor.load(card["run_path"])
    texts = [t for ts in INTENTS.values() for t in ts]
    ours = [p.label for p in student.predict(texts)]
    theirs = [p.label for p in Predictor.load(teacher_copy).predict(texts)]
    assert np.mean([a == b for a, b in zip(ours, theirs)]) > 0.5
    assert student.model.config.num_hidden_layers == 1
    assert len(student.predict(["where is my parcel"])) == 1
    manifest = json.loads((Path(card["run_path"]) / "manifest.json").read_text())
    record = manifest["artifacts"]["distillation"]
    assert record["teacher"] == str(teacher_copy.resolve()) and record["alpha"] == 1.0
    assert record["temperature"] == 2.0 and "cut to 1 layers" in manifest["base_model"]
    assert load_config(Path(card["run_path"]) / "config.yaml").model.name == card["run_path"]
    optimized = json.loads((teacher_copy / "manifest.json").read_text())["artifacts"]["optimized"]
    assert optimized["distilled-1L"]["passed"] is True


def test_a_few_shot_teacher_is_distilled_through_the_loop(tmp_path: Path, tiny_model: Path) -> None:
    """A teacher trained by the few-shot recipe (as tiny data sets are by default) leaves few_shot in its config;
    the student must still train in the loop, the only recipe that reads the teacher's logits (it crashed)."""
    import tunelab
    from tests.conftest import write_csv
    from tunelab.recipes import distill as recipe

    data = write_csv(tmp_path / "intents.csv", [{"text": t, "label": label}
                                                 for label, texts in INTENTS.items() for t in texts])
    tunelab.train(data=str(data), dev=str(data), task="classification", output=str(tmp_path / "teacher"),
                  model=str(tiny_model), few_shot="always", few_shot_iterations=2, precision="fp32",
                  show_progress=False)
    card = recipe.run_distill(tmp_path / "teacher", student=str(tiny_model), layers=1, epochs=1, tolerance=100.0,
                              show_progress=False)
    assert card["passed"] and Predictor.load(card["run_path"]).model.config.num_hidden_layers == 1
    assert json.loads((Path(card["run_path"]) / "manifest.json").read_text())["artifacts"]["distillation"]


def test_refused_student_is_removed(teacher_copy: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.compress import gate as gate_module
    from tunelab.recipes import distill as recipe

    def failing_gate(*args, **kwargs):
        return gate_module.gate(*args[:4], tolerance_points=-1000.0)

    monkeypatch.setattr(recipe, "gate", failing_gate)
    card = recipe.run_distill(teacher_copy, student=str(tiny_model), layers=1, epochs=1, show_progress=False)
    assert not card["passed"] and card["run_path"] is None
    assert not teacher_copy.with_name("intents-distilled").exists()
    with pytest.raises(UsageError, match="exists"):
        recipe.run_distill(teacher_copy, student=str(tiny_model), output=teacher_copy)


@pytest.mark.parametrize(("run", "metric"), [("ner", "f1"), ("multilabel", "micro_f1")])
def test_ner_and_multilabel_students(served_runs: dict[str, Path], tiny_model: Path, tmp_path: Path, run: str,
                                     metric: str) -> None:
    from tunelab.recipes.distill import run_distill

    teacher = tmp_path / run
    shutil.copytree(served_runs[run], teacher)
    config_yaml = teacher / "config.yaml"  # a teacher trained without the words' case: the student decides anew
    config_yaml.write_text(config_yaml.read_text().replace("case_feature: always", "case_feature: never"))
    card = run_distill(teacher, student=str(tiny_model), layers=1, epochs=1, tolerance=100.0, show_progress=False)
    assert card["passed"] and card["metric_name"] == metric
    assert len(Predictor.load(card["run_path"]).predict(["Alice flew to Paris"])) == 1
    student = load_config(Path(card["run_path"]) / "config.yaml")
    assert student.model.case_feature == ("always" if run == "ner" else "never")
