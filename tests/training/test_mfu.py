"""Model FLOPs utilisation: the FLOP count per method and a measured peak."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.training.mfu import matmul_peak, non_embedding_params, training_flops, utilisation


def test_flops_follow_the_method(tiny_model: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_model), num_labels=3)
    n = non_embedding_params(model)
    assert 0 < n < sum(p.numel() for p in model.parameters())
    full = training_flops(model, "full", tokens=1000, mean_length=10)
    lora = training_flops(model, "lora", tokens=1000, mean_length=10)
    probe = training_flops(model, "probe", tokens=1000, mean_length=10)
    assert full > lora > probe > 0
    assert full >= 6 * n * 1000
    assert training_flops(model, "full", tokens=2000, mean_length=10) == pytest.approx(2 * full)


def test_utilisation_is_a_fraction_of_a_measured_peak(tiny_model: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_model), num_labels=3)
    assert matmul_peak("fp32", size=256, seconds=0.1) > 1e8  # any CPU does 0.1 GFLOP/s
    out = utilisation(model, "full", tokens=10_000, samples=1000, seconds=1.0, dtype="fp32")
    assert out["peak_dtype"] == "fp32" and 0 < out["mfu"] < 1
    assert out["model_gflops_per_second"] == pytest.approx(training_flops(model, "full", 10_000, 10) / 1e9, rel=1e-2)
    assert utilisation(model, "full", tokens=0, samples=0, seconds=0.0, dtype="fp32") == {}
