#!/usr/bin/env python
"""Latency of one short text through the public `Predictor.predict` path, and where the time goes (issue 17).

One 16-token text (with [CLS] and [SEP]), batch 1, p50/p95 over a few seconds of calls after a warm-up, for
MiniLM (6 layers) and a 3-layer cut of it (the architecture of the distilled student), each on torch fp32, torch
bf16 autocast, ONNX fp32 and ONNX int8 (dynamic). Baseline in the same run: the transformers `pipeline` on the same
6-layer run folder at its defaults. Next to each TuneLab row, the parts of one call timed alone: the tokenizer as
`Predictor` calls it, the model on ready ids, and the rest (checks, padding, softmax, prediction objects).

The models are fine-tuned here on 3,000 Banking77 questions for one epoch (cached under --work), only so that the
exports pass their accuracy gate on a real model: latency depends on the architecture, not on the weights.

    .venv/bin/python benchmarks/bench_latency.py [--seconds 3] [--threads N]     # make bench-latency
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import bench_infer  # noqa: E402  (the 16-token text, the Banking77 run)
import bench_train  # noqa: E402  (machine info, idle wait, atomic writers)

START, END = "<!-- bench-latency start -->", "<!-- bench-latency end -->"
TARGET_MS = 1.0


def log(message: str) -> None:
    print(f"[bench-latency] {message}", file=sys.stderr, flush=True)


def prepare_cut(work: Path, six: Path, layers: int) -> Path:
    """A `layers`-layer cut of MiniLM fine-tuned on the same questions as `six` (once)."""
    import tunelab
    from tunelab.compress.prune import write_cut_encoder
    from tunelab.models.resolve import resolve_model_path

    run = work / f"b77-cut{layers}"
    if (run / "manifest.json").is_file():
        return run
    encoder = work / f"minilm-cut{layers}"
    shutil.rmtree(encoder, ignore_errors=True)
    write_cut_encoder(resolve_model_path("minilm"), layers, encoder)
    log(f"training a {layers}-layer cut of MiniLM")
    shutil.rmtree(run, ignore_errors=True)
    tunelab.train(data=str(work / "train-3000.csv"), test=str(bench_infer.SHARED / "test.csv"),
                  label_column="category", output=str(run), model=str(encoder), epochs=1, show_progress=False)
    return run


def export(run: Path) -> dict[str, str]:
    """ONNX fp32 and int8 artifacts (once); each one's gate verdict."""
    from tunelab.recipes.export import run_export

    if not (run / "artifacts").is_dir():
        log(f"exporting {run.name}")
        run_export(run)
    verdicts = {}
    for name in ("onnx-fp32", "onnx-int8"):
        card = run / "artifacts" / name / "card.json"  # written for artifacts that passed the gate only
        gate = json.loads(card.read_text(encoding="utf-8"))["gate"] if card.is_file() else None
        verdicts[name] = f"passed (dev {-gate.get('drop_points', 0):+.2f} pts)" if gate else "refused"
    return verdicts


def timed(call: Any, seconds: float) -> dict[str, float]:
    """p50/p95/min in ms of `call()` over `seconds` (at least 200 calls) after 20 warm-up calls."""
    for _ in range(20):
        call()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 200:
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(statistics.median(times), 4), "p95_ms": round(statistics.quantiles(times, n=20)[18], 4),
            "min_ms": round(min(times), 4), "calls": len(times)}


def parts(predictor: Any, text: str, seconds: float) -> dict[str, float]:
    """p50 of the tokenizer as the predictor calls it, and of the model alone on the ready ids."""
    from tunelab.models.fast_encode import encode_ids
    from tunelab.models.forward import predict_logits
    from tunelab.tasks.base import Encoded

    tokenizer_ms = timed(lambda: encode_ids(predictor.tokenizer, [text], predictor._max_length()),
                         seconds / 3)["p50_ms"]

    ids = predictor.tokenizer([text])["input_ids"][0]
    encoded = [Encoded(ids, None)]
    pad = int(predictor.tokenizer.pad_token_id or 0)
    autocast = predictor.precision.autocast()
    model_ms = timed(lambda: predict_logits(predictor.model, encoded, batch_size=1, pad_id=pad, autocast=autocast),
                     seconds / 3)["p50_ms"]
    assert len(ids) == 16, len(ids)
    return {"tokenizer_ms": tokenizer_ms, "model_ms": model_ms}


def measure(name: str, run: Path, options: dict[str, Any], seconds: float) -> dict[str, Any]:
    from tunelab.inference import Predictor

    log(name)
    predictor = Predictor.load(run, **options)
    text = bench_infer.SIXTEEN
    row: dict[str, Any] = {"system": name, **timed(lambda: predictor.predict([text]), seconds)}
    row.update(parts(predictor, text, seconds))
    row["rest_ms"] = round(row["p50_ms"] - row["tokenizer_ms"] - row["model_ms"], 4)
    return row


def measure_pipeline(run: Path, seconds: float) -> dict[str, Any]:
    from transformers import pipeline

    log("transformers pipeline (defaults)")
    pipe = pipeline("text-classification", model=str(run), device="cpu")
    return {"system": "transformers pipeline (defaults, torch fp32)",
            **timed(lambda: pipe(bench_infer.SIXTEEN), seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=BENCH / "work" / "latency", help="cache of the two runs")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per system")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="intra-op threads of torch and ONNX Runtime (default: every core, as Predictor.load)")
    parser.add_argument("--wait-idle", type=float, default=300.0)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    import torch

    from tunelab.training.precision import cpu_flags, cpu_has_bf16

    six, _test = bench_infer.prepare(args.work, 3000, 1)
    three = prepare_cut(args.work, six, 3)
    gates = {"6 layers": export(six), "3 layers": export(three)}
    if args.wait_idle > 0:
        bench_train.wait_for_idle(args.wait_idle)
    torch.set_num_threads(args.threads)
    rows = [measure_pipeline(six, args.seconds)]
    for label, run in (("MiniLM 6 layers", six), ("MiniLM cut to 3 layers", three)):
        for backend, extra in (("torch fp32", {"backend": "torch"}),
                               ("torch bf16 autocast", {"backend": "torch", "precision": "bf16"}),
                               ("ONNX fp32", {"backend": "onnx-fp32", "threads": args.threads}),
                               ("ONNX int8", {"backend": "onnx-int8", "threads": args.threads})):
            if backend.startswith("ONNX") and not (run / "artifacts" / extra["backend"]).is_dir():
                rows.append({"system": f"{label}, {backend}", "refused": "export gate"})
                continue
            rows.append(measure(f"{label}, {backend}", run, extra, args.seconds))
    machine = bench_train.machine_info()
    machine["cpu_flags"] = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx"))))
    report = {"command": "make bench-latency", "at": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": machine, "bf16_native": cpu_has_bf16(), "threads": args.threads,
              "text": bench_infer.SIXTEEN, "gates": gates, "rows": rows, "target_p50_ms": TARGET_MS}
    bench_train.write_json_atomic(BENCH / "results" / "latency.json", report)
    lines = render(report)
    print("\n".join(lines))
    return 0


def render(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    lines = [START, "## Latency: one 16-token text through `Predictor.predict` (issue 17)", "",
             f"Command: `{report['command']}`, {report['at']}. Machine: {m['cpu_model']}, {m['cpus']} CPUs, "
             f"CPU flags: {m['cpu_flags']}; torch {m['versions']['torch']}; {report['threads']} thread(s).", "",
             "| system | p50 ms | p95 ms | min ms | tokenizer ms | model ms | rest ms |",
             "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        if "refused" in r:
            lines.append(f"| {r['system']} | refused by the {r['refused']} | | | | | |")
            continue
        lines.append(f"| {r['system']} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | {r['min_ms']:.3f} | "
                     f"{r.get('tokenizer_ms', '')} | {r.get('model_ms', '')} | {r.get('rest_ms', '')} |")
    best = min((r for r in report["rows"] if "p50_ms" in r and "tokenizer_ms" in r), key=lambda r: r["p50_ms"])
    verdict = "met" if best["p50_ms"] <= report["target_p50_ms"] else "missed"
    lines += ["", f"Lowest p50: {best['system']}, {best['p50_ms']:.3f} ms (target <= {report['target_p50_ms']} ms: "
              f"{verdict}). Export gates: {json.dumps(report['gates'])}.", END]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
