"""The few-shot recipe: chosen below the examples-per-class threshold and not above, opt-out, a run that loads and
predicts (its classifier layer is the fitted logistic regression), bad thresholds refused with exit 2."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import REAL_FEW_SHOT_MEDIAN, invoke_cli

import tunelab
from tunelab.config import TrainConfig
from tunelab.errors import ConfigError, UsageError
from tunelab.tasks.spec import CLASSIFICATION, MULTILABEL
from tunelab.training.fewshot import build_pairs, choose_few_shot

COMMON = dict(precision="fp32", seed=5, few_shot_iterations=4, show_progress=False)


@pytest.fixture(autouse=True)
def real_default_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo, for these tests, the suite-wide `fine_tuning_loop` fixture: the real default threshold applies."""
    from tunelab.training import defaults

    monkeypatch.setattr(defaults, "FEW_SHOT_MEDIAN", REAL_FEW_SHOT_MEDIAN)


def test_the_suite_restores_the_shipped_default() -> None:
    import importlib

    from tunelab.training import defaults

    fresh = importlib.util.spec_from_file_location("fresh_defaults", defaults.__file__)
    module = importlib.util.module_from_spec(fresh)  # type: ignore[arg-type]
    fresh.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.FEW_SHOT_MEDIAN == REAL_FEW_SHOT_MEDIAN


def test_default_threshold_switches_small_data_to_few_shot(intent_csv: Path, tiny_model: Path,
                                                            tmp_path: Path) -> None:
    summary = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "few"), **COMMON)
    record = summary.manifest.few_shot
    per_class = summary.manifest.splits["train"]["examples"] / 3
    assert record["used"] is True and record["threshold"] == 16.0
    assert record["median_examples_per_class"] <= 16 and "both <= threshold 16" in record["reason"]
    assert record["pairs"] == 4 * 2 * summary.manifest.splits["train"]["examples"]
    assert summary.manifest.timings["steps"] == math.ceil(record["pairs"] / 16)
    assert abs(record["median_examples_per_class"] - per_class) <= 1
    card = (summary.run_dir / "README.md").read_text(encoding="utf-8")
    assert f"Few-shot recipe ({record['reason']}): {record['pairs']} contrastive sentence pairs" in card
    before = load_file(str(tiny_model / "model.safetensors"))
    after = load_file(str(summary.run_dir / "model.safetensors"))
    key = next(k for k in before if k.endswith("encoder.layer.1.output.dense.weight"))
    assert not torch.equal(before[key], after[next(k for k in after if k.endswith(key))]), "encoder not tuned"


def test_the_run_loads_predicts_and_its_head_is_the_fitted_regression(intent_csv: Path, tiny_model: Path,
                                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.linear_model import LogisticRegression

    from tunelab.data.load import run_training_split

    run = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "few"),
                        **COMMON).run_dir
    predictor = tunelab.load(run)
    texts = ["please refund my order", "where is my parcel", "reset my password please", "hello world"]
    predictions = predictor.predict(texts)
    assert [p.label in predictor.labels for p in predictions] == [True] * 4
    examples, _ = run_training_split(run, "the check")
    features, _ = predictor.features([e.text for e in examples])
    gold = [predictor.labels.index(e.label) for e in examples]
    reference = LogisticRegression(C=1.0, max_iter=1000).fit(features, gold)
    probabilities = np.array([[p[name] for name in predictor.labels] for p in predictor.predict_proba(texts)])
    assert np.allclose(probabilities, reference.predict_proba(predictor.features(texts)[0]), atol=1e-4)
    result = invoke_cli(["predict", str(run), "--text", "where is my parcel"], monkeypatch, capsys)
    assert result.code == 0 and predictions[1].label in result.out


def test_above_the_threshold_the_loop_trains(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    summary = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "loop"),
                            few_shot_threshold=2, epochs=2, batch_size=4, **COMMON)
    record = summary.manifest.few_shot
    assert record["used"] is False and "not both <= few-shot threshold 2" in record["reason"]
    assert "pairs" not in record
    n = summary.manifest.splits["train"]["examples"]
    assert summary.manifest.timings["steps"] == 2 * math.ceil(n / 4)  # the loop's batches, not pairs
    assert "Few-shot recipe" not in (summary.run_dir / "README.md").read_text(encoding="utf-8")
    import json

    assert "pooling" not in json.loads((summary.run_dir / "config.json").read_text())["tunelab"]


def test_never_opts_out_below_the_threshold(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    summary = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "never"),
                            few_shot="never", epochs=1, batch_size=4, **COMMON)
    assert summary.manifest.few_shot["used"] is False and "never" in summary.manifest.few_shot["reason"]
    n = summary.manifest.splits["train"]["examples"]
    assert summary.manifest.timings["steps"] == math.ceil(n / 4)


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf"])
def test_bad_threshold_is_a_usage_error(value: str, intent_csv: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bad"
    result = invoke_cli(["train", "--data", str(intent_csv), "--output", str(out), "--few-shot-threshold", value],
                        monkeypatch, capsys)
    assert result.code == 2, result.err
    assert "train.few_shot_threshold" in result.err and "> 0" in result.err
    assert not out.exists()


def test_bad_mode_and_api_threshold_are_refused(intent_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke_cli(["train", "--data", str(intent_csv), "--output", str(tmp_path / "m"), "--few-shot", "off"],
                        monkeypatch, capsys)
    assert result.code == 2 and "train.few_shot" in result.err and "auto, always, never" in result.err
    with pytest.raises(ConfigError, match="few_shot_threshold"):
        tunelab.train(data=str(intent_csv), output=str(tmp_path / "a"), few_shot_threshold=-1)


def test_always_refuses_settings_it_cannot_honour() -> None:
    labels = ["a", "a", "b", "b"]
    with pytest.raises(UsageError, match="--method lora"):
        choose_few_shot(TrainConfig(few_shot="always", method="lora", few_shot_threshold=16), CLASSIFICATION, labels)
    with pytest.raises(UsageError, match="one process"):
        choose_few_shot(TrainConfig(few_shot="always", few_shot_threshold=16), CLASSIFICATION, labels,
                        distributed=True)
    auto = choose_few_shot(TrainConfig(few_shot_threshold=16), MULTILABEL, [])
    assert not auto.use and "single-label" in auto.reason
    dp = choose_few_shot(TrainConfig(privacy="dp", few_shot_threshold=16), CLASSIFICATION, labels)
    assert not dp.use
    big = choose_few_shot(TrainConfig(few_shot="always", few_shot_threshold=1), CLASSIFICATION, labels * 10)
    assert big.use and "always" in big.reason


def test_pairs_give_each_example_one_partner_of_each_kind() -> None:
    targets = [0, 0, 0, 1, 1, 2]
    pairs = build_pairs(targets, iterations=3, seed=1)
    assert len(pairs) == 3 * 2 * len(targets)
    y = np.array(targets)
    same = y[pairs.left] == y[pairs.right]
    assert np.array_equal(same, pairs.target == 1.0)
    assert np.bincount(pairs.left, minlength=6).tolist() == [6] * 6
    assert int((pairs.target == 1.0).sum()) == len(pairs) // 2
    again = build_pairs(targets, iterations=3, seed=1)
    assert np.array_equal(again.right, pairs.right)


def test_mean_pooling_is_recorded_reloaded_batch_invariant_and_exported(intent_csv: Path, tiny_model: Path,
                                                                       tmp_path: Path) -> None:
    import json

    from tunelab.compress.onnx_export import export_onnx
    from tunelab.inference import Predictor
    from tunelab.models.pooling import pooling_of

    run = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "few"),
                        **COMMON).run_dir
    assert json.loads((run / "config.json").read_text())["tunelab"]["pooling"] == "mean"
    assert json.loads((run / "manifest.json").read_text())["few_shot"]["pooling"] == "mean"
    assert "tunelab.pooling = mean" in (run / "README.md").read_text(encoding="utf-8")
    predictor = Predictor.load(run)
    assert pooling_of(predictor.model) == "mean"
    short, long = "where is my parcel", "please refund my order now because my parcel has not arrived again"
    alone = predictor.predict_proba([short])[0]
    padded = predictor.predict_proba([short, long])[0]  # padded to the long text's length in one batch
    assert alone == pytest.approx(padded, abs=1e-5), "padding tokens leaked into the mean"
    features, _ = predictor.features([short])
    assert np.linalg.norm(features[0]) == pytest.approx(1.0, abs=1e-5)
    onnx_path = export_onnx(run, tmp_path / "onnx", "classification")
    from tunelab.inference.onnx_model import OnnxModel

    encoded = predictor.tokenizer([short, long], padding=True, return_tensors="np")
    onnx_logits = OnnxModel(onnx_path).run(encoded["input_ids"].astype(np.int64),
                                           encoded["attention_mask"].astype(np.int64))
    with torch.no_grad():
        torch_logits = predictor.model(input_ids=torch.from_numpy(encoded["input_ids"]).long(),
                                       attention_mask=torch.from_numpy(encoded["attention_mask"]).long()).logits
    assert np.allclose(onnx_logits, torch_logits.numpy(), atol=1e-4)


def test_a_pruned_few_shot_run_keeps_its_mean_pooling(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    import json

    from tunelab.compress.prune import write_pruned
    from tunelab.models.heads import load_pretrained
    from tunelab.models.pooling import pooling_of
    from tunelab.tasks import auto_model_class

    run = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "few"),
                        **COMMON).run_dir
    write_pruned(run, 1, tmp_path / "pruned", "classification")
    assert json.loads((tmp_path / "pruned" / "config.json").read_text())["tunelab"]["pooling"] == "mean"
    assert pooling_of(load_pretrained(auto_model_class("classification"), tmp_path / "pruned")) == "mean"


def test_auto_needs_both_the_median_and_the_mean_class_small() -> None:
    """Imbalanced picks (most classes at the threshold, a few large) have a small median but a large mean: the
    loop trains them (the median alone sent 1,386 active-learning picks to the slower, worse recipe)."""
    cfg = TrainConfig(few_shot_threshold=16)
    balanced = [c for c in "abcd" for _ in range(16)]
    small = choose_few_shot(cfg, CLASSIFICATION, balanced)
    assert small.use and small.median_per_class == 16 and small.mean_per_class == 16
    imbalanced = [c for c in "abc" for _ in range(16)] + ["d"] * 40
    large = choose_few_shot(cfg, CLASSIFICATION, imbalanced)
    assert not large.use and large.median_per_class == 16 and large.mean_per_class == 22
    assert "mean 22" in large.reason and large.record()["mean_examples_per_class"] == 22
    just_over = choose_few_shot(cfg, CLASSIFICATION, balanced + ["d"])  # mean 16.25: the reason shows it
    assert not just_over.use and "mean 16.25" in just_over.reason
    few_big = [c for c in "abc" for _ in range(30)] + ["d", "e"]  # median 30: the mean alone would switch
    assert not choose_few_shot(cfg, CLASSIFICATION, few_big).use


def test_auto_leaves_many_examples_to_the_loop_even_at_few_per_class() -> None:
    """77 intents at 10 questions each is few per class but 770 in all: the loop beat the recipe there (Banking77:
    0.813 against 0.788); 10 intents at 10 each stays with the recipe."""
    cfg = TrainConfig(few_shot_threshold=16, few_shot_max_examples=512)
    many = [f"intent{i}" for i in range(77) for _ in range(10)]
    loop = choose_few_shot(cfg, CLASSIFICATION, many)
    assert not loop.use and "770 training examples > 512" in loop.reason
    assert loop.record()["max_examples"] == 512
    few = choose_few_shot(cfg, CLASSIFICATION, many[:100])
    assert few.use and "100 examples" in few.reason
    assert choose_few_shot(TrainConfig(few_shot_threshold=16), CLASSIFICATION, many).use  # no cap set: size alone
    assert choose_few_shot(TrainConfig(few_shot="always", few_shot_threshold=16, few_shot_max_examples=512),
                           CLASSIFICATION, many).use
