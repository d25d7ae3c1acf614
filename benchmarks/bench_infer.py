#!/usr/bin/env python
"""Inference benchmark: the transformers pipeline at its defaults against TuneLab's backends, one run.

On a Banking77 model fine-tuned here (bundled MiniLM; a training subset in --quick mode): sequences/s at
batch 32 over the same mixed-length test questions, p50/p95 latency at batch 1 for one 16-token text, and
test accuracy, for: the `pipeline` at its defaults, TuneLab torch fp32, torch bf16 (where the CPU runs it
natively), ONNX fp32, ONNX int8 (dynamic) and a layer-pruned model; plus matmul peaks measured on the same
machine as the limit line. Not covered yet: CoNLL-2003 entity F1 and a distilled model.

    .venv/bin/python benchmarks/bench_infer.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (shared idle-wait, machine info, atomic writers)

SHARED = ROOT.parent / "shared" / "data" / "banking77"
START, END = "<!-- bench-infer start -->", "<!-- bench-infer end -->"


def log(message: str) -> None:
    print(f"[bench-infer {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def read_rows(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text"], r["category"]) for r in csv.DictReader(handle)]


def prepare(work: Path, train_size: int, epochs: int) -> tuple[Path, list[tuple[str, str]]]:
    """Train (once) a Banking77 model on a seeded subset; returns the run and the test rows."""
    import tunelab

    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is absent: this benchmark needs ../shared/data/banking77")
    run = work / f"b77-{train_size}-{epochs}ep"
    test = read_rows(SHARED / "test.csv")
    if (run / "manifest.json").is_file():
        return run, test
    rows = read_rows(SHARED / "train.csv")
    random.Random(0).shuffle(rows)
    subset = work / f"train-{train_size}.csv"
    with open(subset, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(rows[:train_size])
    log(f"training the benchmark model on {train_size} Banking77 questions, {epochs} epochs")
    shutil.rmtree(run, ignore_errors=True)
    tunelab.train(data=str(subset), test=str(SHARED / "test.csv"), label_column="category", output=str(run),
                  epochs=epochs, show_progress=False)
    return run, test


def time_throughput(predict: Any, texts: list[str], rounds: int = 3) -> float:
    """Texts per second over `texts`, median of `rounds` passes after one warm-up pass."""
    predict(texts[:64])
    speeds = []
    for _ in range(rounds):
        start = time.perf_counter()
        predict(texts)
        speeds.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(speeds)


def time_latency(predict_one: Any, text: str, seconds: float = 3.0) -> tuple[float, float]:
    for _ in range(5):
        predict_one(text)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 30:
        start = time.perf_counter()
        predict_one(text)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), statistics.quantiles(times, n=20)[18]


def accuracy(labels: list[str], rows: list[tuple[str, str]]) -> float:
    return sum(p == gold for p, (_, gold) in zip(labels, rows)) / len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller training subset and test slice")
    parser.add_argument("--work", type=Path, default=BENCH / "work" / "infer")
    parser.add_argument("--wait-idle", type=float, default=300.0)
    args = parser.parse_args(argv)
    train_size, epochs, test_size = (3000, 3, 1000) if args.quick else (10003, 4, 3080)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    from transformers import pipeline

    from tunelab.inference import Predictor
    from tunelab.recipes.export import run_export
    from tunelab.recipes.prune import run_prune
    from tunelab.training.mfu import matmul_peak
    from tunelab.training.precision import cpu_has_bf16

    run, test = prepare(args.work, train_size, epochs)
    test = test[:test_size]
    texts = [t for t, _ in test]
    speed_texts = random.Random(1).sample(texts, 512)  # the same mixed-length questions for every backend
    if not (run / "artifacts" / "report.json").is_file():
        log("exporting (ONNX fp32 + dynamic int8, gated on dev)")
        run_export(run, quantize="dynamic")
    pruned_dir = run.with_name(run.name + "-pruned4")
    if not (pruned_dir / "manifest.json").is_file():
        log("pruning to 4 of 6 layers with a 2-epoch recovery")
        run_prune(run, layers=4, epochs=2, output=pruned_dir, tolerance=100.0, show_progress=False)
    if args.wait_idle > 0:
        bench_train.wait_for_idle(args.wait_idle)

    sixteen = "I still have not received my new card and I ordered it over a week ago"
    rows: list[dict[str, Any]] = []
    pipe = pipeline("text-classification", model=str(run), device="cpu")
    log("transformers pipeline (defaults)")
    pipe_labels = [r["label"] for r in pipe(texts)]
    rows.append({"system": "transformers pipeline (defaults)", "accuracy": accuracy(pipe_labels, test),
                 "throughput_per_s": time_throughput(lambda xs: pipe(xs), speed_texts),
                 **dict(zip(("p50_ms", "p95_ms"), time_latency(lambda x: pipe(x), sixteen)))})
    optimized = json.loads((run / "manifest.json").read_text())["artifacts"]["optimized"]
    systems = [("TuneLab torch fp32", run, {"backend": "torch"})]
    if cpu_has_bf16():
        systems.append(("TuneLab torch bf16", run, {"backend": "torch", "precision": "bf16"}))
    systems += [("TuneLab ONNX fp32", run, {"backend": "onnx-fp32"}),
                ("TuneLab ONNX int8 (dynamic)", run, {"backend": "onnx-int8"}),
                ("TuneLab pruned 4/6 layers (torch fp32)", pruned_dir, {"backend": "torch"})]
    for name, folder, options in systems:
        if options["backend"].startswith("onnx") and not (folder / "artifacts" / options["backend"]).is_dir():
            gate = optimized.get(options["backend"], {}).get("gate", {})
            rows.append({"system": name, "refused": gate.get("message", "not exported")})
            continue
        log(name)
        model = Predictor.load(folder, **options)
        predicted = [p.label for p in model.predict(texts, batch_size=32)]
        rows.append({"system": name, "accuracy": accuracy(predicted, test),
                     "throughput_per_s": time_throughput(lambda xs, m=model: m.predict(xs, batch_size=32), speed_texts),
                     **dict(zip(("p50_ms", "p95_ms"), time_latency(lambda x, m=model: m.predict([x]), sixteen)))})
    peaks = {"fp32_gflops": round(matmul_peak("fp32") / 1e9, 1)}
    if cpu_has_bf16():
        peaks["bf16_gflops"] = round(matmul_peak("bf16") / 1e9, 1)
    base = rows[0]
    best = max((r for r in rows[1:] if "throughput_per_s" in r), key=lambda r: r["throughput_per_s"])
    report = {"benchmark": "infer", "quick": args.quick, "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": "make bench-infer" + ("-quick" if args.quick else ""), "machine": bench_train.machine_info(),
              "model": os.path.relpath(run, ROOT), "train_size": train_size, "epochs": epochs, "test_size": len(test),
              "matmul_peaks": peaks, "rows": rows,
              "best": {"system": best["system"],
                       "speedup_vs_pipeline": best["throughput_per_s"] / base["throughput_per_s"],
                       "accuracy_loss_points": (base["accuracy"] - best["accuracy"]) * 100},
              "seconds": round(time.perf_counter() - started, 1)}
    out = BENCH / "results" / ("infer-quick.json" if args.quick else "infer.json")
    bench_train.write_json_atomic(out, report)
    lines = [START, "## Inference benchmark" + (" (quick)" if args.quick else ""), "",
             f"Command: `{report['command']}`, {report['date']}. Machine: {report['machine']['cpu_model']}, "
             f"{report['machine']['cpus']} CPUs. Model: MiniLM fine-tuned on {train_size} Banking77 questions, "
             f"{epochs} epochs; accuracy on {len(test)} test questions; speed on 512 of them (mixed length).",
             f"Matmul peaks measured here: {', '.join(f'{k} {v}' for k, v in peaks.items())} (torch, 1024^2).", "",
             "| system | test accuracy | texts/s at batch 32 | p50 ms batch 1 | p95 ms batch 1 |",
             "|---|---|---|---|---|"]
    for r in rows:
        if "refused" in r:
            lines.append(f"| {r['system']} | refused by the gate: {r['refused']} | | | |")
        else:
            lines.append(f"| {r['system']} | {r['accuracy']:.4f} | {r['throughput_per_s']:.1f} | "
                         f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} |")
    b = report["best"]
    lines += ["", f"Fastest TuneLab path: {b['system']}, **{b['speedup_vs_pipeline']:.2f}x** the pipeline's "
              f"throughput, test accuracy {-b['accuracy_loss_points']:+.2f} points against it (targets: 6x at "
              "<= 0.5 points loss; p50 <= 1 ms at batch 1 for a 16-token text).", END]
    md = BENCH / "RESULTS.md"
    text = md.read_text(encoding="utf-8")
    if START in text and END in text:
        text = text.split(START)[0] + "\n".join(lines) + text.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    bench_train.write_text_atomic(md, text)
    print("\n".join(lines[1:-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
