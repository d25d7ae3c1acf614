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
from tunelab.errors import DataError, UsageError
from tunelab.inference import Predictor
from tunelab.tasks import get_task
from tunelab.tasks.base import IGNORE, Encoded, collate
from tunelab.training.precision import Precision, choose_precision


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


def test_unlabelled_examples_train_on_the_teacher_term_alone() -> None:
    base = get_task("classification")
    teacher = [np.array([0.0, 5.0], dtype=np.float32), np.array([5.0, 0.0], dtype=np.float32),
               np.array([1.0, 2.0], dtype=np.float32)]
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.7], [-3.0, 3.0]])
    task = DistillTask(base, {}, KDSettings(alpha=0.4, temperature=2.0))
    batch = [Encoded([2, 7, 3], KDTarget(0, teacher[0])), Encoded([2, 8, 3], KDTarget(1, teacher[1], labelled=False)),
             Encoded([2, 9, 3], KDTarget(1, teacher[2]))]
    targets = collate(task, batch, pad_id=0)["targets"].to("cpu")
    assert targets.labelled.tolist() == [True, False, True]
    soft = kd_loss("classification", logits, torch.from_numpy(np.stack(teacher)), 2.0)
    # row 1's placeholder label is not in the gold term; it adds a zero to the mean over all 3 rows
    hard = base.loss(logits[[0, 2]], torch.tensor([0, 1])) * 2 / 3
    assert torch.allclose(task.loss(logits, targets), 0.4 * soft + 0.6 * hard, atol=1e-6)
    alone = collate(task, batch[1:2], pad_id=0)["targets"].to("cpu")  # a batch of unlabelled texts only
    assert torch.allclose(task.loss(logits[1:2], alone), 0.4 * kd_loss("classification", logits[1:2],
                                                                       torch.from_numpy(teacher[1][None]), 2.0))
    # the loop splits a batch too large for memory into pieces weighted by their share of rows: the same loss
    split = sum(task.loss(logits[a:b], collate(task, batch[a:b], pad_id=0)["targets"]) * (b - a) / 3
                for a, b in ((0, 2), (2, 3)))
    assert torch.allclose(split, task.loss(logits, targets), atol=1e-6)


def test_the_examples_named_unlabelled_are_flagged_when_encoded(tiny_model: Path) -> None:
    from tunelab.compress.distill import example_key, unlabelled_examples
    from tunelab.models.build import load_tokenizer
    from tunelab.types import LabelSet, TextExample

    base, labels = get_task("classification"), LabelSet(("refund", "shipping"))
    known = TextExample("refund please", ("refund",))
    [new] = unlabelled_examples(base, [TextExample("where is it")], labels, {})
    table = {example_key(e): np.zeros(2, dtype=np.float32) for e in (known, new)}
    task = DistillTask(base, table, KDSettings(), frozenset({example_key(new)}))
    encoded = task.encode([known, new], load_tokenizer(tiny_model), labels, 16)
    assert [e.target.labelled for e in encoded] == [True, False]
    assert task.build_labels([known, new]) == base.build_labels([known])  # the placeholder adds no label


def test_ner_unlabelled_sentences_keep_the_teachers_rows_and_drop_their_tags() -> None:
    from tunelab.compress.distill import unlabelled_examples
    from tunelab.types import LabelSet, TextExample

    base = get_task("ner")
    labels = LabelSet(("O", "B-PER", "I-PER"))
    [sentence] = unlabelled_examples(base, [TextExample("Dave met Erin.")], labels, {"word_split": "words"})
    assert sentence.tokens == ("Dave", "met", "Erin", ".") and set(sentence.tags) == {"O"}
    task = DistillTask(base, {}, KDSettings(alpha=0.5))
    rows = np.zeros((2, 3), dtype=np.float32)
    items = [Encoded([2, 10, 11, 3], KDTarget([IGNORE, 1, 0, IGNORE], rows)),
             Encoded([2, 12, 13, 3], KDTarget([IGNORE, 0, 0, IGNORE], rows, labelled=False))]
    targets = task.collate_targets(items, width=4)
    assert targets.mask.tolist() == [[False, True, True, False]] * 2  # the teacher scores both sentences' words
    logits = torch.randn(2, 4, 3)
    soft = kd_loss("ner", logits, targets.teacher, 2.0, targets.mask)
    hard = base.loss(logits[:1], targets.gold[:1]) * 2 / 4  # 2 of the batch's 4 scored words have a real tag
    assert torch.allclose(task.loss(logits, targets), 0.5 * soft + 0.5 * hard)


def test_the_teacher_pass_in_bf16_keeps_the_fp32_logits_and_reports_progress(served_runs: dict[str, Path]) -> None:
    from tunelab.compress.distill import example_key, teacher_logits
    from tunelab.types import TextExample

    teacher = Predictor.load(served_runs["intents_a"], backend="torch")
    examples = [TextExample(t, (label,)) for label, texts in INTENTS.items() for t in texts]
    told: list[tuple[int, int]] = []
    device = teacher.precision.device
    exact = teacher_logits(teacher, examples, batch_size=4, precision=Precision(device, "fp32"),
                           on_progress=lambda done, total: told.append((done, total)))
    fast = teacher_logits(teacher, examples, batch_size=4, precision=Precision(device, "bf16"))
    pieces = sum(len(e) for e in teacher.task.encode(examples, teacher.tokenizer, teacher.label_set,
                                            teacher._max_length()))
    assert len(told) == -(-len(examples) // 4) and {total for _, total in told} == {pieces}
    assert [done for done, _ in told] == sorted({done for done, _ in told}) and told[-1][0] == pieces
    for example in examples:
        a, b = exact[example_key(example)], fast[example_key(example)]
        assert b.dtype == np.float32 and a.shape == b.shape
        assert not np.array_equal(a, b)  # bf16 really ran (8-bit mantissa)
        error = np.abs(a - b).max()
        assert error < 0.05 * max(1.0, np.abs(a).max())
        assert np.argmax(a) == np.argmax(b) or np.sort(a)[-1] - np.sort(a)[-2] <= 2 * error  # a near tie may flip


def test_a_split_counts_as_carved_only_when_it_came_out_of_the_training_file() -> None:
    from types import SimpleNamespace

    from tunelab.recipes.distill import _carved

    def case(dev_file: str | None, test_file: str | None, dev: object, test: object) -> bool:
        return _carved(SimpleNamespace(data=SimpleNamespace(dev=dev_file, test=test_file)),
                       SimpleNamespace(dev=dev, test=test))

    split = object()
    assert not case("dev.csv", "test.csv", split, split)  # both given: any student seed trains on the same split
    assert case(None, "test.csv", split, split)  # dev drawn from train
    assert case("dev.csv", None, split, split)  # test drawn from train
    assert not case(None, "test.csv", None, split)  # nothing drawn (dev_fraction 0, or too few to carve)
    assert not case("dev.csv", None, split, None)


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

    calls: list[tuple[int, str]] = []
    original = distill_module.teacher_logits

    def counting(teacher, examples, batch_size=64, **kwargs):
        calls.append((len(examples), kwargs["precision"].dtype))
        return original(teacher, examples, batch_size, **kwargs)

    monkeypatch.setattr(recipe, "teacher_logits", counting)
    card = recipe.run_distill(teacher_copy, student=str(tiny_model), layers=1, epochs=20, lr=3e-3, alpha=1.0,
                              tolerance=100.0, show_progress=False)
    assert len(calls) == 1  # the teacher ran once over the training data, not per step
    assert calls[0][1] == choose_precision("auto").dtype  # auto: bf16 where the hardware has it natively
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
    assert record["teacher_precision"] == calls[0][1]
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
    # its test split was drawn from the training file with seed 42: another student seed would draw another one
    with pytest.raises(UsageError, match="--seed 7: the teacher's dev or test split was drawn"):
        recipe.run_distill(tmp_path / "teacher", student=str(tiny_model), output=tmp_path / "s7", seed=7,
                           show_progress=False)
    assert not (tmp_path / "s7").exists()


def test_the_students_frozen_layers_and_embeddings_are_chosen_for_the_student(teacher_copy: Path,
                                                                             tiny_model: Path) -> None:
    """A teacher's config holds what was resolved for its encoder: 1 frozen bottom layer would leave a 1-layer
    student nothing to train (it was refused), and its word-embedding choice is the teacher's, not the student's."""
    from dataclasses import replace

    from tunelab.config import save_config
    from tunelab.recipes import distill as recipe

    config = load_config(teacher_copy / "config.yaml")
    save_config(replace(config, train=replace(config.train, frozen_layers=1, word_embeddings="freeze", epochs=2,
                                              ema_decay=0.0),  # as a LoRA teacher resolves it
                        model=replace(config.model, dropout=0.3)), teacher_copy / "config.yaml")
    card = recipe.run_distill(teacher_copy, student=str(tiny_model), layers=1, tolerance=100.0,
                              show_progress=False)
    student = load_config(Path(card["run_path"]) / "config.yaml").train
    assert card["passed"] and student.frozen_layers == 0  # a third of one layer: none frozen
    assert student.epochs == card["epochs"] == 15  # the student's own for 18 texts, not the teacher's 2
    assert student.word_embeddings == "train"  # the tiny encoder's embeddings are under the size that freezes them
    assert load_config(Path(card["run_path"]) / "config.yaml").model.dropout is None  # the student's own
    assert student.ema_decay == 0.99  # full fine-tuning's weight average, whatever the teacher's method had


def test_set_overrides_the_students_run_and_refuses_what_distillation_decides(
        teacher_copy: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from tunelab.config import save_config
    from tunelab.errors import ConfigError
    from tunelab.recipes import distill as recipe

    config = load_config(teacher_copy / "config.yaml")  # a teacher that froze a bottom layer (and so its embeddings)
    save_config(replace(config, train=replace(config.train, frozen_layers=1, word_embeddings="freeze")),
                teacher_copy / "config.yaml")
    overrides = ["train.batch_size=4", "train.ema_decay=0", "model.dropout=0.2", "train.word_embeddings=train"]
    card = recipe.run_distill(teacher_copy, student=str(tiny_model), layers=1, epochs=1, tolerance=100.0,
                              output=tmp_path / "s", show_progress=False, overrides=overrides)
    student = load_config(tmp_path / "s" / "config.yaml")
    assert (student.train.batch_size, student.train.ema_decay, student.model.dropout) == (4, 0.0, 0.2)
    assert (student.train.word_embeddings, student.train.frozen_layers) == ("train", 0)  # checked as the student's
    assert card["overrides"] == overrides

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the teacher's pass ran before the overrides were checked")

    monkeypatch.setattr(recipe, "teacher_logits", never)
    for item, message in (("train.method=lora", "distillation sets train.method itself"),
                          ("train.seed=7", "distillation sets train.seed itself"),
                          ("data.train=other.csv", "only train.\\* and model.\\* keys"),
                          ("model.name=minilm", "distillation sets model.name itself")):
        with pytest.raises(UsageError, match=message):
            recipe.run_distill(teacher_copy, student=str(tiny_model), output=tmp_path / "x", overrides=[item],
                               show_progress=False)
    for item in ("train.batch_sise=4", "train.ema_decay=2", "train.frozen_layers=1"):  # the last: with the
        with pytest.raises(ConfigError):  # word embeddings trained, as the first override above asked
            recipe.run_distill(teacher_copy, student=str(tiny_model), output=tmp_path / "x", show_progress=False,
                               overrides=[item, "train.word_embeddings=train"])
    assert not (tmp_path / "x").exists()


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


def test_unlabelled_texts_join_the_students_training(teacher_copy: Path, tiny_model: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.compress import distill as distill_module
    from tunelab.recipes import distill as recipe

    taught: list[str] = []
    original = distill_module.teacher_logits

    def recording(teacher, examples, batch_size=64, **kwargs):
        taught.extend(e.text for e in examples)
        return original(teacher, examples, batch_size, **kwargs)

    monkeypatch.setattr(recipe, "teacher_logits", recording)
    texts = tmp_path / "traffic.txt"  # two new texts, one repeated, one from the training data
    texts.write_text("my parcel never came\nrefund it all\nmy parcel  never came\nwhere is my parcel\n")
    card = recipe.run_distill(teacher_copy, student=str(tiny_model), layers=1, epochs=2, tolerance=100.0,
                              unlabelled=texts, seed=5, show_progress=False)
    assert card["passed"] and card["unlabelled_examples"] == 2
    assert card["seed"] == 5 and load_config(Path(card["run_path"]) / "config.yaml").train.seed == 5
    assert taught.count("my parcel never came") == 1 and taught.count("where is my parcel") == 1
    assert len(taught) == 18 + 2
    splits = json.loads((Path(card["run_path"]) / "splits.json").read_text())
    assert splits["train"]["examples"] == 18 and splits["unlabelled"]["rows"] == [[str(texts), 1], [str(texts), 2]]
    manifest = json.loads((Path(card["run_path"]) / "manifest.json").read_text())
    assert manifest["splits"]["unlabelled"]["examples"] == 2
    record = manifest["artifacts"]["distillation"]
    assert record["unlabelled_examples"] == 2 and record["unlabelled"]["path"] == str(texts.resolve())
    assert len(record["unlabelled"]["sha256"]) == 64
    assert Predictor.load(card["run_path"]).label_set == Predictor.load(teacher_copy).label_set
    texts.write_text("where is my parcel\n")
    with pytest.raises(UsageError, match="no unlabelled text left"):
        recipe.run_distill(teacher_copy, student=str(tiny_model), layers=1, output=tmp_path / "again",
                           unlabelled=texts, show_progress=False)
    assert not (tmp_path / "again").exists()
    with pytest.raises(DataError, match="missing.txt"):
        recipe.run_distill(teacher_copy, student=str(tiny_model), output=tmp_path / "again",
                           unlabelled=tmp_path / "missing.txt", show_progress=False)
    with pytest.raises(UsageError, match="teacher-precision must be one of auto, fp32, bf16"):
        recipe.run_distill(teacher_copy, student=str(tiny_model), output=tmp_path / "again", teacher_precision="fp16",
                           show_progress=False)
    with pytest.raises(UsageError, match="alpha 0"):
        recipe.run_distill(teacher_copy, student=str(tiny_model), output=tmp_path / "again", alpha=0.0,
                           unlabelled=texts, show_progress=False)
    assert not (tmp_path / "again").exists()


@pytest.mark.parametrize(("run", "metric"), [("ner", "f1"), ("multilabel", "micro_f1")])
def test_ner_and_multilabel_students(served_runs: dict[str, Path], tiny_model: Path, tmp_path: Path, run: str,
                                     metric: str) -> None:
    from tunelab.recipes.distill import run_distill

    teacher = tmp_path / run
    shutil.copytree(served_runs[run], teacher)
    config_yaml = teacher / "config.yaml"  # a teacher trained without the words' case: the student decides anew
    config_yaml.write_text(config_yaml.read_text().replace("case_feature: always", "case_feature: never"))
    texts = tmp_path / "more.txt"
    texts.write_text("Dave moved to Rome.\nErin joined Initech\n")
    card = run_distill(teacher, student=str(tiny_model), layers=1, epochs=1, tolerance=100.0, unlabelled=texts,
                       show_progress=False)
    assert card["passed"] and card["metric_name"] == metric and card["unlabelled_examples"] == 2
    assert len(Predictor.load(card["run_path"]).predict(["Alice flew to Paris"])) == 1
    student = load_config(Path(card["run_path"]) / "config.yaml")
    assert student.model.case_feature == ("always" if run == "ner" else "never")
