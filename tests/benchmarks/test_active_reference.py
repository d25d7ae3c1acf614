"""The active-learning benchmark's target: full-data accuracy minus a point, the reference averaged over the seeds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_active  # noqa: E402


def test_each_seed_has_its_own_reference_and_seed_0_keeps_its_old_file(tmp_path, monkeypatch):
    curves = tmp_path / "full-curves"
    curves.mkdir()
    name = bench_active.DATA.name
    (curves / f"{name}-all-labels.json").write_text(json.dumps({"accuracy": 0.9367}))  # seed 0, the old name
    (curves / f"{name}-all-labels-s2.json").write_text(json.dumps({"accuracy": 0.9331}))
    trained = []

    def fake_train(**kwargs):
        trained.append(kwargs["seed"])
        return SimpleNamespace(manifest=SimpleNamespace(metrics={"test": {"accuracy": 0.93514}}))

    monkeypatch.setattr("tunelab.train", fake_train)
    assert bench_active.full_data_accuracy(tmp_path, 0) == 0.9367
    assert bench_active.full_data_accuracy(tmp_path, 2) == 0.9331
    assert trained == []
    # seed 1 has no file: it is trained with its own seed (not given seed 0's old file) and kept for the next run
    assert bench_active.full_data_accuracy(tmp_path, 1) == 0.9351
    assert trained == [1]
    assert json.loads((curves / f"{name}-all-labels-s1.json").read_text())["accuracy"] == 0.9351
    assert bench_active.full_data_accuracy(tmp_path, 1) == 0.9351
    assert trained == [1]


def curve(*points: tuple[int, float]) -> list[dict]:
    return [{"round": i, "labels": n, "accuracy": a} for i, (n, a) in enumerate(points)]


def test_the_verdict_reads_each_seeds_count_against_the_mean_reference():
    curves = {"uncertainty+diversity": [curve((770, 0.81), (1540, 0.926)), curve((770, 0.80), (1540, 0.931))],
              "random": [curve((770, 0.81), (1540, 0.90), (2310, 0.926)),
                         curve((770, 0.80), (1540, 0.91), (2310, 0.92), (3080, 0.93))]}
    references = [0.937, 0.935]
    summary = bench_active.summarise(curves, round(sum(references) / 2, 4), by_seed=True)
    assert summary["target_accuracy"] == 0.926
    assert summary["labels_to_target_per_seed"] == {"uncertainty+diversity": [1540, 1540], "random": [2310, 3080]}
    assert summary["per_seed_ratio"] == pytest.approx(1540 / 2695, abs=1e-4)
    assert summary["target_met"] is False  # 57%
    result = {"mode": "full", "seeds": [0, 1], "reference_per_seed": references, "summary": summary,
              "machine": {"cpu_model": "cpu", "cpus": 2, "cpu_flags": "avx2",
                          "versions": {"torch": "t", "transformers": "x"}},
              "train_size": 10, "test_size": 5, "start_labels": 770, "rounds": 3, "batch": 770,
              "finished": "now", "wall_s": 1.0, "plot": "p.png"}
    text = bench_active.render(result, "`cmd`")
    assert "accuracy 0.9360 (the mean of seeds 0-1: 0.9370, 0.9350; std 0.0010); target 0.9260" in text
    assert "not met: 57%" in text
