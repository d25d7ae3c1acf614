"""LogitNorm: the loss ignores the logits' scale, the fitted temperature makes the softmax calibrated again, and the
folded model is an ordinary classifier whose argmax did not move."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import tunelab
from tunelab.config import load_config
from tunelab.errors import ConfigError
from tunelab.training.defaults import choose_loss, resolve_defaults
from tunelab.training.logit_norm import fit_temperature, fold_temperature, logit_norm_loss


def test_loss_is_the_cross_entropy_of_normalised_logits_and_ignores_their_scale() -> None:
    logits = torch.randn(8, 5)
    targets = torch.randint(0, 5, (8,))
    loss = logit_norm_loss(logits, targets, 0.04)
    unit = logits / logits.norm(dim=-1, keepdim=True)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(unit / 0.04, targets))
    assert torch.allclose(logit_norm_loss(logits * 7.5, targets, 0.04), loss)
    assert not torch.allclose(logit_norm_loss(logits, targets, 0.1), loss)


def test_fitted_temperature_undoes_a_known_overconfidence() -> None:
    rng = np.random.default_rng(0)
    calibrated = rng.normal(size=(4000, 6))
    probs = np.exp(calibrated) / np.exp(calibrated).sum(axis=1, keepdims=True)
    gold = np.array([rng.choice(6, p=p) for p in probs])  # labels drawn from the calibrated softmax
    assert fit_temperature(calibrated * 5.0, gold) == pytest.approx(5.0, rel=0.1)
    assert fit_temperature(calibrated, gold) == pytest.approx(1.0, rel=0.1)


def test_a_dev_set_classified_right_stops_at_the_lower_bound() -> None:
    logits = np.eye(4)[[0, 1, 2, 3] * 5] * 3.0  # every row right, by a margin: sharper always fits better
    assert fit_temperature(logits, np.array([0, 1, 2, 3] * 5), (0.5, 50.0)) == pytest.approx(0.5, rel=1e-3)


def test_folding_divides_the_layer_output_by_the_temperature() -> None:
    layer = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    before = layer(x).detach()
    fold_temperature(layer, 2.5)
    assert torch.allclose(layer(x), before / 2.5, atol=1e-6)


def test_defaults_choose_logit_norm_for_many_class_full_fine_tuning_of_small_encoders_only() -> None:
    def auto(method: str = "full", single_label: bool = True, private: bool = False, layers: int = 6,
             classes: int = 77) -> str:
        return choose_loss("auto", method, single_label, private, layers, classes)

    assert auto() == "logit_norm"
    assert auto(classes=3) == "cross_entropy"  # measured: no gain on 3 classes
    assert auto(layers=12) == "cross_entropy"  # unmeasured on deeper encoders
    assert auto(method="lora") == "cross_entropy"
    assert auto(single_label=False) == "cross_entropy"
    assert auto(method="probe", private=True) == "cross_entropy"
    assert choose_loss("cross_entropy", "full", True, False, 6, 77) == "cross_entropy"
    ner = load_config(None, ["data.task=ner"])
    assert resolve_defaults(ner, 1000, [20] * 10, 512, 6, classes=9).train.loss == "cross_entropy"
    assert resolve_defaults(load_config(None, []), 1000, [20] * 10, 512, 6, classes=77).train.loss == "logit_norm"
    assert resolve_defaults(load_config(None, []), 1000, [20] * 10, 512, 6, classes=2).train.loss == "cross_entropy"


def test_logit_norm_with_an_adapter_is_refused() -> None:
    with pytest.raises(ConfigError, match="train.loss"):
        load_config(None, ["train.loss=logit_norm", "train.method=lora"]).validate()
    with pytest.raises(ConfigError, match="train.loss"):
        load_config(None, ["train.loss=hinge"]).validate()


def test_a_run_records_and_folds_its_temperature(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    common = dict(data=str(intent_csv), dev=str(intent_csv), test=str(intent_csv), model=str(tiny_model),
                  epochs=3, batch_size=6, lr=1e-3, precision="fp32", seed=3, show_progress=False)
    plain = tunelab.train(output=str(tmp_path / "ce"), **common)  # a few classes: the cross-entropy by default
    normed = tunelab.train(output=str(tmp_path / "ln"), loss="logit_norm", **common)
    assert "logit_norm" not in plain.manifest.task_state
    record = normed.manifest.task_state["logit_norm"]
    assert record["fitted_on"] == "dev" and record["temperature"] > 0
    # the saved model's softmax is the calibrated one: refitted on the same dev, the temperature is 1 (or, on a
    # dev set it classifies right by a margin, the bound: no sharper than the scale it trained at)
    with open(intent_csv, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    predictions = tunelab.load(normed.run_dir).predict([r["text"] for r in rows])
    names = list(normed.manifest.labels)
    probs = np.array([[p.probabilities[n] for n in names] for p in predictions])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    gold = np.array([names.index(r["label"]) for r in rows])
    log_probs = np.log(probs)
    norms = np.linalg.norm(log_probs - log_probs.mean(axis=1, keepdims=True), axis=1)
    assert np.median(norms) <= 1 / 0.04 + 1e-3  # never sharper than the normalised logits training scored
    refit = fit_temperature(log_probs, gold)
    assert refit == pytest.approx(1.0, rel=0.02) or refit < 1.0
