"""ONNX export behind the accuracy gate: parity with torch, refusal, the report card, backend choice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tunelab.compress.gate import gate
from tunelab.inference import Predictor
from tunelab.recipes.export import run_export
from tunelab.tasks import Evaluation

TEXTS = ["where is my parcel", "please refund my order", "i forgot my password", "Alice visited Paris today"]


@pytest.fixture(scope="module")
def exported(served_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name in ("intents_a", "ner"):
        run = tmp_path_factory.mktemp("export") / name
        shutil.copytree(served_runs[name], run)
        run_export(run, quantize="all" if name == "intents_a" else "none", speed_seconds=0.3)
        out[name] = run
    return out


def test_onnx_fp32_matches_torch_and_is_kept(exported: dict[str, Path]) -> None:
    run = exported["intents_a"]
    report = json.loads((run / "artifacts" / "report.json").read_text())
    card = report["artifacts"]["onnx-fp32"]
    assert card["passed"] and card["gate"]["label_agreement"] == 1.0
    assert card["gate"]["max_abs_logit_diff"] < 1e-4
    # exported with eager attention, which ONNX Runtime fuses into one node per layer (int8: QAttention)
    assert "Attention x2" in card["graph"], card["graph"]
    assert _op_types(run / "artifacts" / "onnx-int8" / "model.onnx").count("QAttention") == 2
    for key in ("size_mb", "latency_b1_p50_ms", "latency_b1_p95_ms", "throughput_b32_per_s", "metric"):
        assert card[key] > 0 or key == "metric"
    assert (run / "artifacts" / "onnx-fp32" / "model.onnx").is_file()
    assert (run / "artifacts" / "onnx-fp32" / "card.json").is_file()
    assert not (run / "artifacts" / ".staging").exists()
    torch_model = Predictor.load(run, backend="torch")
    onnx_model = Predictor.load(run, backend="onnx-fp32")
    assert onnx_model.backend == "onnx-fp32"
    for a, b in zip(torch_model.predict(TEXTS), onnx_model.predict(TEXTS)):
        assert a.label == b.label
        assert a.score == pytest.approx(b.score, abs=1e-4)


def _op_types(path: Path) -> list[str]:
    import onnx

    return [node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node]


def test_every_artifact_is_recorded_in_the_manifest(exported: dict[str, Path]) -> None:
    manifest = json.loads((exported["intents_a"] / "manifest.json").read_text())
    optimized = manifest["artifacts"]["optimized"]
    assert {"torch", "onnx-fp32", "onnx-int8", "onnx-int8-static"} <= set(optimized)
    for name in ("onnx-int8", "onnx-int8-static"):
        card = optimized[name]
        on_disk = (exported["intents_a"] / "artifacts" / name / "model.onnx").is_file()
        assert on_disk == card["passed"], "kept exactly when the gate passed"
    assert optimized["onnx-int8"]["mode"] == "dynamic" and optimized["onnx-int8-static"]["mode"] == "static"


def test_auto_backend_is_the_fastest_that_passed(exported: dict[str, Path]) -> None:
    run = exported["intents_a"]
    optimized = json.loads((run / "manifest.json").read_text())["artifacts"]["optimized"]
    chosen = Predictor.load(run, backend="auto").backend
    passed = {k: v["throughput_b32_per_s"] for k, v in optimized.items() if k == "torch" or v.get("passed")}
    assert chosen == max(passed, key=passed.get)


def test_ner_export_keeps_spans(exported: dict[str, Path]) -> None:
    run = exported["ner"]
    torch_spans = Predictor.load(run, backend="torch").predict(TEXTS)
    onnx_spans = Predictor.load(run, backend="onnx-fp32").predict(TEXTS)
    for a, b in zip(torch_spans, onnx_spans):
        assert [(s.start, s.end, s.label) for s in a.spans] == [(s.start, s.end, s.label) for s in b.spans]


def test_ner_export_carries_the_words_case(exported: dict[str, Path]) -> None:
    from tunelab.models.casing import case_id_base
    from tunelab.models.forward import predict_logits
    from tunelab.tasks import wrap_texts

    run = exported["ner"]
    logits = []
    for backend in ("torch", "onnx-fp32"):
        predictor = Predictor.load(run, backend=backend)
        assert case_id_base(predictor.tokenizer)  # trained with the case feature (the tiny tokenizer lowercases)
        examples = wrap_texts(predictor.task, ["Alice visited Paris", "alice visited paris"])
        encoded = predictor.task.encode(examples, predictor.tokenizer, predictor.label_set, 32)
        logits.append(predict_logits(predictor.model, encoded, batch_size=2, pad_id=0, per_token=True))
    for torch_row, onnx_row in zip(*logits):
        assert np.abs(torch_row - onnx_row).max() < 1e-4  # the graph unpacks the ids as the torch model does
    assert np.abs(logits[1][0] - logits[1][1]).max() > 1e-3  # and the case changes what it reads


def _evaluation(metric: float, per_class: dict[str, float]) -> Evaluation:
    report = {"per_class": {k: {"f1": v} for k, v in per_class.items()}}
    return Evaluation("accuracy", metric, report, [])


def test_gate_refuses_a_drop_beyond_tolerance_and_reports_classes() -> None:
    ref = _evaluation(0.90, {"a": 0.9, "b": 0.9})
    worse = _evaluation(0.88, {"a": 0.9, "b": 0.84})
    logits_ref = [np.array([2.0, 0.0]), np.array([0.0, 2.0])]
    logits_new = [np.array([2.0, 0.1]), np.array([0.5, 0.2])]  # second flips
    result = gate(ref, worse, logits_ref, logits_new, tolerance_points=1.0)
    assert not result.passed and result.drop_points == pytest.approx(2.0)
    assert result.per_class_drops == {"b": pytest.approx(6.0)}
    assert result.label_agreement == 0.5 and result.max_abs_logit_diff == pytest.approx(1.8)
    assert "REFUSED" in result.message
    forced = gate(ref, worse, logits_ref, logits_new, tolerance_points=1.0, force=True)
    assert forced.passed and forced.forced
    assert forced.message.startswith("kept by --force despite the accuracy gate")  # not "passed"
    assert gate(ref, worse, logits_ref, logits_new, tolerance_points=2.5).passed


def test_export_refuses_unknown_options(served_runs: dict[str, Path]) -> None:
    from tunelab.errors import UsageError

    with pytest.raises(UsageError):
        run_export(served_runs["intents_a"], quantize="int4")
    with pytest.raises(UsageError):
        run_export(served_runs["intents_a"], tolerance=-1)
