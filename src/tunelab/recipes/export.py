"""run_export: a run's model as ONNX (fp32, int8 dynamic, int8 static), each behind the accuracy gate.

Per artifact: build it in a staging folder -> score the dev set against the fp32 torch model (metric,
per-class drops, label agreement, max logit difference) -> measure size, batch-1 latency and batch-32
throughput -> keep it (rename into `artifacts/<name>/`) only if it passed, or if forced. The manifest
records every card, so `Predictor.load(run, backend="auto")` and the server pick the fastest one that
passed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tunelab import extras
from tunelab.artifacts.cards import ArtifactCard
from tunelab.artifacts.files import read_json, write_json_atomic
from tunelab.artifacts.manifest import record_cards
from tunelab.compress import onnx_export as ox
from tunelab.compress.gate import GateSet, gate, measure_interleaved
from tunelab.errors import ArtifactError, UsageError
from tunelab.inference import Predictor
from tunelab.models.forward import batch_logits

QUANTIZE = ("none", "dynamic", "static", "all")


def dev_examples(run_dir: Path, data: str | None) -> list[Any]:
    from tunelab.config import load_config
    from tunelab.data import load_dataset, read_examples
    from tunelab.recipes.evaluate import data_config_for

    if data:
        return list(read_examples(Path(data), data_config_for(run_dir), labeled=True))
    config = load_config(run_dir / "config.yaml")
    try:
        bundle = load_dataset(config.data, config.train.seed)
    except (OSError, ArtifactError) as exc:
        raise ArtifactError(f"cannot re-read the run's dev data ({exc})",
                            hint="pass a labelled file with --data") from None
    split = bundle.dev or bundle.test
    if split is None or not split.examples:
        raise ArtifactError("the run has no dev or test examples to gate on", hint="pass --data FILE")
    return list(split.examples)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_export(run: str | Path, *, quantize: str = "dynamic", tolerance: float = 1.0, force: bool = False,
               data: str | None = None, max_examples: int = 2000, speed_seconds: float = 6.0) -> dict[str, Any]:
    """Export, gate and measure; returns {"reference": card, "artifacts": {name: card}}."""
    if quantize not in QUANTIZE:
        raise UsageError(f"--quantize must be one of {', '.join(QUANTIZE)}")
    if tolerance < 0:
        raise UsageError("--tolerance is in metric points and must be >= 0")
    for module in ("onnx", "onnxruntime"):
        extras.check(module, "tunelab export")
    run_dir = Path(run)
    reference = Predictor.load(run_dir, backend="torch")
    state = reference.manifest.task_state
    gate_set = GateSet.of(reference, dev_examples(run_dir, data)[:max_examples])
    encoded = gate_set.encoded
    pool = [t for e in encoded[:500] for t in e.input_ids]
    _log(f"export: {len(gate_set.examples)} dev examples for the gate")
    ref_eval, ref_logits = gate_set.score(reference.model, state)

    def torch_batch(ids: np.ndarray, mask: np.ndarray) -> Any:
        return batch_logits(reference.model, ids, mask)

    ref_card = {"backend": "torch-fp32", "metric_name": ref_eval.metric_name, "metric": ref_eval.metric,
                "size_mb": round((run_dir / "model.safetensors").stat().st_size / 1e6, 2)}
    _log(f"export: torch fp32 reference {ref_eval.metric_name} {ref_eval.metric:.4f}")
    runners: dict[str, Any] = {"torch": torch_batch}

    root = run_dir / "artifacts"
    staging = root / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    fp32_dir = staging / "onnx-fp32"
    ox.export_onnx(run_dir, fp32_dir, gate_set.task.name)
    fusions = ox.optimize_onnx(fp32_dir / "model.onnx", read_json(run_dir / "config.json"))
    plans: list[tuple[str, Path, dict[str, Any]]] = [("onnx-fp32", fp32_dir, {"mode": "fp32", "graph": fusions})]
    if quantize in ("dynamic", "all"):
        info = ox.quantize_dynamic_int8(fp32_dir / "model.onnx", staging / "onnx-int8" / "model.onnx")
        plans.append(("onnx-int8", staging / "onnx-int8", info))
    if quantize in ("static", "all"):
        batches = _calibration_batches(encoded, gate_set.pad_id)
        info = ox.quantize_static_int8(fp32_dir / "model.onnx", staging / "onnx-int8-static" / "model.onnx", batches)
        plans.append(("onnx-int8-static", staging / "onnx-int8-static", info))

    from tunelab.inference.onnx_model import OnnxModel

    cards: dict[str, Any] = {}
    try:
        for name, folder, info in plans:
            model = OnnxModel(folder / "model.onnx")
            cand_eval, cand_logits = gate_set.score(model, state)
            result = gate(ref_eval, cand_eval, ref_logits, cand_logits, tolerance, force)
            cards[name] = {"backend": name, **info, "metric_name": cand_eval.metric_name, "metric": cand_eval.metric,
                           "size_mb": round((folder / "model.onnx").stat().st_size / 1e6, 2),
                           "gate": result.to_dict(), "passed": result.passed, "forced": result.forced}
            runners[name] = model.run
            _log(f"export: {name}: {result.message}")
        _log(f"export: timing {', '.join(runners)} in interleaved rounds ({speed_seconds:g} s each)")
        speeds = measure_interleaved(runners, pool, seconds=speed_seconds)
        ref_card.update(speeds.pop("torch"))
        for name, folder, _info in plans:
            card = cards[name]
            card.update(speeds[name])
            target = root / name
            if card["passed"]:
                ox.copy_tokenizer(run_dir, folder)
                write_json_atomic(folder / "card.json", card)
                shutil.rmtree(target, ignore_errors=True)
                folder.rename(target)
            else:
                shutil.rmtree(target, ignore_errors=True)  # an older artifact of that name no longer stands
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    everything = {"torch": ref_card, **cards}
    record_cards(run_dir, {name: ArtifactCard.from_json(name, card) for name, card in everything.items()})
    write_json_atomic(root / "report.json", {"reference": ref_card, "artifacts": cards})
    return {"reference": ref_card, "artifacts": cards}


def _calibration_batches(encoded: list[Any], pad: int, batch: int = 16, limit: int = 32) -> list[dict[str, Any]]:
    out = []
    for start in range(0, min(len(encoded), batch * limit), batch):
        rows = encoded[start:start + batch]
        width = max(len(e) for e in rows)
        ids = np.full((len(rows), width), pad, dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, e in enumerate(rows):
            ids[r, :len(e)] = e.input_ids
            mask[r, :len(e)] = 1
        out.append({"input_ids": ids, "attention_mask": mask})
    return out


def describe(result: dict[str, Any]) -> str:
    """A table for the terminal."""
    rows = [("torch-fp32", result["reference"], "reference")]
    rows += [(name, card, "kept" if card["passed"] else "refused") for name, card in result["artifacts"].items()]
    head = f"{'artifact':<18} {'metric':>8} {'size MB':>8} {'p50 b1 ms':>10} {'p95 b1 ms':>10} {'seq/s b32':>10}"
    lines = [head + "  gate"]
    for name, card, verdict in rows:
        lines.append(f"{name:<18} {card['metric']:>8.4f} {card['size_mb']:>8} {card['latency_b1_p50_ms']:>10} "
                     f"{card['latency_b1_p95_ms']:>10} {card['throughput_b32_per_s']:>10}  {verdict}")
    return "\n".join(lines)


__all__ = ["QUANTIZE", "describe", "run_export"]
