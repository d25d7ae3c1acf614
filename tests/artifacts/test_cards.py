"""Report cards of compressed artifacts: typed on read, written back in the JSON form every version used."""

from __future__ import annotations

import json
from pathlib import Path

from tunelab.artifacts.cards import ArtifactCard, read_cards, with_cards
from tunelab.artifacts.manifest import (
    Manifest,
    free_card_name,
    load_manifest,
    read_manifest,
    record_cards,
    save_manifest,
)
from tunelab.inference.predictor import choose_backend

# As `tunelab export` / `prune` wrote them before cards were typed.
OLD_OPTIMIZED = {
    "torch": {"backend": "torch-fp32", "metric_name": "accuracy", "metric": 0.9, "size_mb": 90.0,
              "latency_b1_p50_ms": 4.0, "latency_b1_p95_ms": 5.0, "throughput_b32_per_s": 100.0},
    "onnx-int8": {"backend": "onnx-int8", "mode": "dynamic", "metric_name": "accuracy", "metric": 0.89,
                  "size_mb": 23.1, "gate": {"drop_points": 1.0, "label_agreement": 0.99}, "passed": True,
                  "forced": False, "latency_b1_p50_ms": 1.5, "latency_b1_p95_ms": 2.0, "throughput_b32_per_s": 700},
    "onnx-fp32": {"backend": "onnx-fp32", "metric_name": "accuracy", "metric": 0.7, "gate": {"drop_points": 20.0},
                  "passed": True, "forced": True, "throughput_b32_per_s": 900.0},
    "pruned-1of2": {"backend": "pruned-1of2", "kept_layers": [1], "run_path": "/runs/p", "metric_name": "accuracy",
                    "metric": 0.5, "gate": {"drop_points": 40.0}, "passed": False, "forced": False},
    "broken": "not an object",
}


def manifest_with(artifacts: dict) -> Manifest:
    return Manifest("classification", ["a", "b"], "tiny", "full", 64, "abc", artifacts=artifacts)


def test_old_cards_read_typed_and_write_back_unchanged() -> None:
    cards = read_cards({"files": {}, "optimized": OLD_OPTIMIZED})
    assert set(cards) == {"torch", "onnx-int8", "onnx-fp32", "pruned-1of2"}  # a non-object entry is skipped
    torch, int8, forced, pruned = cards["torch"], cards["onnx-int8"], cards["onnx-fp32"], cards["pruned-1of2"]
    assert torch.is_reference and torch.verdict == "reference" and not torch.usable and torch.drop_points is None
    assert int8.usable and int8.verdict == "passed" and int8.drop_points == 1.0 and int8.details == {"mode": "dynamic"}
    assert int8.throughput_b32_per_s == 700.0 and isinstance(int8.throughput_b32_per_s, float)
    assert forced.passed and not forced.usable
    assert pruned.verdict == "refused" and pruned.run_path == "/runs/p" and pruned.details == {"kept_layers": [1]}
    for name, card in cards.items():
        assert card.to_json() == OLD_OPTIMIZED[name]


def test_with_cards_replaces_same_named_and_keeps_the_rest() -> None:
    new = ArtifactCard("onnx-int8", "onnx-int8", "accuracy", 0.5, {"drop_points": 40.0}, passed=False)
    artifacts = with_cards({"files": {"x": "sha"}, "optimized": OLD_OPTIMIZED}, {"onnx-int8": new})
    assert artifacts["files"] == {"x": "sha"} and artifacts["optimized"]["torch"] == OLD_OPTIMIZED["torch"]
    assert read_cards(artifacts)["onnx-int8"] == new


def test_record_cards_and_choose_backend_through_the_manifest(tmp_path: Path) -> None:
    save_manifest(tmp_path, manifest_with({"optimized": OLD_OPTIMIZED}))
    for name in ("onnx-int8", "onnx-fp32"):
        (tmp_path / "artifacts" / name).mkdir(parents=True)
        (tmp_path / "artifacts" / name / "model.onnx").write_bytes(b"")
    # the forced one is faster but never chosen automatically; a refused or reference card never either
    assert choose_backend(load_manifest(tmp_path), tmp_path) == "onnx-int8"
    slower = ArtifactCard.from_json("onnx-int8", {**OLD_OPTIMIZED["onnx-int8"], "throughput_b32_per_s": 50})
    record_cards(tmp_path, {"onnx-int8": slower})
    assert choose_backend(load_manifest(tmp_path), tmp_path) == "torch"
    stored = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]["optimized"]
    assert stored["onnx-int8"]["throughput_b32_per_s"] == 50.0 and stored["torch"] == OLD_OPTIMIZED["torch"]


def test_read_manifest_is_none_where_load_would_raise(tmp_path: Path) -> None:
    assert read_manifest(tmp_path / "missing") is None
    assert read_manifest(tmp_path) is None  # no manifest.json: unfinished
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    assert read_manifest(tmp_path) is None
    save_manifest(tmp_path, manifest_with({}))
    loaded = read_manifest(str(tmp_path))
    assert loaded is not None and loaded.cards() == {} and loaded.to_json()["task"] == "classification"


def test_a_second_model_of_the_same_shape_gets_its_own_card(tmp_path: Path) -> None:
    """Two students of one depth (another seed, other unlabelled texts) in two folders: both cards stay listed; the
    same folder again, or a refused card (no folder), is replaced."""
    save_manifest(tmp_path, manifest_with({"optimized": OLD_OPTIMIZED}))  # pruned-1of2 kept in /runs/p
    assert free_card_name(tmp_path, "pruned-1of2", "/runs/p") == "pruned-1of2"
    assert free_card_name(tmp_path, "pruned-1of2", "/runs/seed1") == "pruned-1of2-seed1"
    assert free_card_name(tmp_path, "distilled-2L", "/runs/s") == "distilled-2L"  # no such card yet
    record_cards(tmp_path, {"pruned-1of2-seed1": ArtifactCard.from_json("pruned-1of2-seed1", {
        **OLD_OPTIMIZED["pruned-1of2"], "run_path": "/runs/seed1"})})
    assert free_card_name(tmp_path, "pruned-1of2", "/runs/seed1") == "pruned-1of2-seed1"  # its own card again
    assert free_card_name(tmp_path, "pruned-1of2", "/other/seed1") == "pruned-1of2-seed1-2"  # same folder name
    record_cards(tmp_path, {"pruned-1of2": ArtifactCard.from_json("pruned-1of2", {
        **OLD_OPTIMIZED["pruned-1of2"], "run_path": None})})
    assert free_card_name(tmp_path, "pruned-1of2", "/runs/seed1") == "pruned-1of2"
