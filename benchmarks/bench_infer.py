#!/usr/bin/env python
"""Inference benchmark: the transformers pipeline at its defaults against TuneLab's backends, one run.

Two MiniLM models fine-tuned here, cached under --work so a rerun only times: Banking77 (intent
classification) and CoNLL-2003 (NER, trained on eng.train, dev eng.testa). For each system: sequences/s at
batch 32 over the same 512 mixed-length Banking77 test questions, p50/p95 latency at batch 1 for one
16-token text, Banking77 test accuracy and CoNLL-2003 eng.testb entity F1 (strict, micro). Systems: the
`pipeline` at its defaults, TuneLab torch fp32, torch bf16 autocast (marked emulated where the CPU has no
native bf16), ONNX fp32, ONNX int8 (dynamic), a student distilled from the teacher into its own layers cut to 3 (torch
and ONNX int8), a layer-pruned (4 of 6) and a head-pruned (25% of heads) model; plus the fp32 and bf16 matmul
peaks measured on the same machine as the limit line.

    .venv/bin/python benchmarks/bench_infer.py [--quick]

--quick trains on subsets and evaluates on test slices, and writes results/infer-quick.json
(RESULTS.md keeps a section for each mode).
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (shared idle-wait, machine info, atomic writers)

SHARED = ROOT.parent / "shared" / "data" / "banking77"
CONLL = ROOT.parent / "shared" / "data" / "conll2003"
START, END = "<!-- bench-infer start -->", "<!-- bench-infer end -->"
SIXTEEN = "Why has my card payment not gone through yet, can you help me"  # 16 tokens with [CLS] and [SEP]


@dataclass(frozen=True)
class Plan:
    """Sizes of one benchmark mode."""

    b77_train: int
    b77_epochs: int
    b77_test: int
    conll_sentences: int | None  # None: all of eng.train
    conll_epochs: int
    conll_test: int | None
    recovery_epochs: int  # pruning
    student_epochs: int  # distillation


FULL = Plan(10003, 6, 3080, None, 3, None, 2, 6)
QUICK = Plan(3000, 3, 1000, 2000, 2, 500, 1, 2)


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


def prepare_conll(work: Path, sentences: int | None, epochs: int) -> Path:
    """Train (once) a CoNLL-2003 NER model on eng.train (the first `sentences` in quick mode), dev eng.testa,
    test eng.testb; returns the run."""
    import tunelab

    if not CONLL.is_dir():
        raise SystemExit(f"{CONLL} is absent: this benchmark needs ../shared/data/conll2003")
    run = work / f"conll-{sentences or 'all'}-{epochs}ep"
    if (run / "manifest.json").is_file():
        return run
    train = CONLL / "eng.train"
    if sentences:
        blocks = [b for b in train.read_text(encoding="utf-8").split("\n\n") if b.strip()]
        train = work / f"conll-train-{sentences}.conll"
        train.write_text("\n\n".join(blocks[: sentences + 1]) + "\n", encoding="utf-8")
    log(f"training the NER benchmark model on {sentences or 'all'} eng.train sentences, {epochs} epochs")
    shutil.rmtree(run, ignore_errors=True)
    tunelab.train(data=str(train), dev=str(CONLL / "eng.testa"), test=str(CONLL / "eng.testb"), task="ner",
                  format="conll", output=str(run), epochs=epochs, show_progress=False)
    return run


def derive(teacher: Path, plan: Plan) -> dict[str, Path]:
    """The compressed variants of one fine-tuned run, each made once and cached beside it. They are built
    with a wide tolerance so the benchmark can time them; their gate verdict at 1 point is reported."""
    from tunelab.recipes.distill import run_distill
    from tunelab.recipes.export import run_export
    from tunelab.recipes.prune import run_prune

    out = {"teacher": teacher, "layers": teacher.with_name(teacher.name + "-pruned4"),
           "heads": teacher.with_name(teacher.name + "-heads25"),
           "distilled": teacher.with_name(teacher.name + "-distilled3t")}
    if not (teacher / "artifacts" / "report.json").is_file():
        log(f"{teacher.name}: exporting (ONNX fp32 + dynamic int8, gated on dev)")
        run_export(teacher, quantize="dynamic")
    if not (out["layers"] / "manifest.json").is_file():
        log(f"{teacher.name}: pruning to 4 of 6 layers, {plan.recovery_epochs}-epoch recovery")
        shutil.rmtree(out["layers"], ignore_errors=True)
        run_prune(teacher, layers=4, epochs=plan.recovery_epochs, output=out["layers"], tolerance=100.0,
                  show_progress=False)
    if not (out["heads"] / "manifest.json").is_file():
        log(f"{teacher.name}: removing 25% of the attention heads, {plan.recovery_epochs}-epoch recovery")
        shutil.rmtree(out["heads"], ignore_errors=True)
        run_prune(teacher, heads=0.25, epochs=plan.recovery_epochs, output=out["heads"], tolerance=100.0,
                  show_progress=False)
    if not (out["distilled"] / "manifest.json").is_file():
        # the student starts from the teacher's own fine-tuned layers (3 of 6): on the quick models this passed
        # the Banking77 gate where a student cut from the pre-trained MiniLM lost 22 points
        log(f"{teacher.name}: distilling into the teacher cut to 3 layers, {plan.student_epochs} epochs")
        shutil.rmtree(out["distilled"], ignore_errors=True)
        run_distill(teacher, student=str(teacher), layers=3, epochs=plan.student_epochs, output=out["distilled"],
                    tolerance=100.0, show_progress=False)
    if not (out["distilled"] / "artifacts" / "report.json").is_file():
        log(f"{teacher.name}: exporting the distilled student")
        run_export(out["distilled"], quantize="dynamic")
    return out


def gate_verdict(teacher: Path, folder: Path) -> str:
    """The variant's dev drop against the teacher and whether the default 1-point gate would keep it."""
    optimized = json.loads((teacher / "manifest.json").read_text())["artifacts"].get("optimized", {})
    for card in optimized.values():
        if card.get("run_path") and Path(card["run_path"]) == folder.resolve():
            drop = card["gate"]["drop_points"]
            return f"dev {-drop:+.2f} pts vs its teacher: {'passes' if drop <= 1.0 else 'refused by'} the 1-pt gate"
    return ""


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


def pipeline_f1(run: Path, examples: list[Any]) -> float:
    """Entity F1 of the token-classification pipeline at its defaults (no aggregation): each word takes the
    tag of the word-piece starting at its first character, as TuneLab does."""
    from transformers import pipeline

    from tunelab.evaluation.ner import ner_report

    pipe = pipeline("token-classification", model=str(run), device="cpu")
    predicted = []
    for example, tokens in zip(examples, pipe([e.text for e in examples])):
        starts = {t["start"]: t["entity"] for t in tokens}
        predicted.append([starts.get(start, "O") for start, _ in example.offsets])
    return float(ner_report([list(e.tags) for e in examples], predicted).table.micro.f1)


def measure_pipeline(b77: Path, conll: Path, test: list[tuple[str, str]], speed_texts: list[str],
                     conll_examples: list[Any]) -> dict[str, Any]:
    from transformers import pipeline

    log("transformers pipeline (defaults)")
    pipe = pipeline("text-classification", model=str(b77), device="cpu")
    labels = [r["label"] for r in pipe([t for t, _ in test])]
    row = {"system": "transformers pipeline (defaults)", "accuracy": accuracy(labels, test),
           "throughput_per_s": time_throughput(lambda xs: pipe(xs), speed_texts),
           **dict(zip(("p50_ms", "p95_ms"), time_latency(lambda x: pipe(x), SIXTEEN)))}
    row["conll_f1"] = pipeline_f1(conll, conll_examples)
    return row


def measure(name: str, b77: Path, conll: Path, options: dict[str, Any], test: list[tuple[str, str]],
            speed_texts: list[str], conll_examples: list[Any], note: str = "") -> dict[str, Any]:
    """One TuneLab system: accuracy and F1 through the same backend, then throughput and latency."""
    from tunelab.inference import Predictor

    backend = options.get("backend", "torch")
    for folder in (b77, conll):
        if backend.startswith("onnx") and not (folder / "artifacts" / backend).is_dir():
            return {"system": name, "refused": f"{folder.name}: {backend} refused by the export gate"}
    log(name)
    model = Predictor.load(b77, **options)
    predicted = [p.label for p in model.predict([t for t, _ in test], batch_size=32)]
    row = {"system": name, "accuracy": accuracy(predicted, test),
           "conll_f1": float(Predictor.load(conll, **options).evaluate(conll_examples).metric),
           "throughput_per_s": time_throughput(lambda xs: model.predict(xs, batch_size=32), speed_texts),
           **dict(zip(("p50_ms", "p95_ms"), time_latency(lambda x: model.predict([x]), SIXTEEN))),
           "parameters": _parameters(b77)}
    if note:
        row["note"] = note
    return row


def _parameters(run: Path) -> int:
    import math

    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), framework="np") as handle:
        return sum(math.prod(handle.get_slice(k).get_shape()) for k in handle.keys())


def systems(bf16_native: bool) -> list[tuple[str, str, dict[str, Any], str]]:
    """(name, variant, Predictor options, note) per row after the pipeline."""
    bf16_note = "" if bf16_native else "this CPU has no native bf16 (no avx512_bf16/amx): autocast emulates it"
    return [("TuneLab torch fp32", "teacher", {"backend": "torch"}, ""),
            ("TuneLab torch bf16 autocast", "teacher", {"backend": "torch", "precision": "bf16"}, bf16_note),
            ("TuneLab ONNX fp32", "teacher", {"backend": "onnx-fp32"}, ""),
            ("TuneLab ONNX int8 (dynamic)", "teacher", {"backend": "onnx-int8"}, ""),
            ("distilled 3-layer student (torch fp32)", "distilled", {"backend": "torch"}, ""),
            ("distilled 3-layer student (ONNX int8)", "distilled", {"backend": "onnx-int8"}, ""),
            ("pruned 4/6 layers (torch fp32)", "layers", {"backend": "torch"}, ""),
            ("pruned 25% of heads (torch fp32)", "heads", {"backend": "torch"}, "")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="training subsets and test slices (its own RESULTS.md section)")
    parser.add_argument("--work", type=Path, default=BENCH / "work" / "infer", help="cache of trained models")
    parser.add_argument("--wait-idle", type=float, default=300.0)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    from tunelab.data import read_examples
    from tunelab.recipes.evaluate import data_config_for
    from tunelab.training.mfu import matmul_peak
    from tunelab.training.precision import cpu_has_bf16

    b77_run, test = prepare(args.work, plan.b77_train, plan.b77_epochs)
    conll_run = prepare_conll(args.work, plan.conll_sentences, plan.conll_epochs)
    b77, conll = derive(b77_run, plan), derive(conll_run, plan)
    test = test[: plan.b77_test]
    conll_examples = list(read_examples(CONLL / "eng.testb", data_config_for(conll_run), labeled=True))
    conll_examples = conll_examples[: plan.conll_test] if plan.conll_test else conll_examples
    speed_texts = random.Random(1).sample([t for t, _ in test], 512)  # the same questions for every system
    if args.wait_idle > 0:
        bench_train.wait_for_idle(args.wait_idle)

    rows = [measure_pipeline(b77_run, conll_run, test, speed_texts, conll_examples)]
    native = cpu_has_bf16()
    for name, variant, options, note in systems(native):
        verdict = " / ".join(v for v in (gate_verdict(b77_run, b77[variant]), gate_verdict(conll_run, conll[variant]))
                             if v) if variant != "teacher" else ""
        rows.append(measure(name, b77[variant], conll[variant], options, test, speed_texts, conll_examples,
                            "; ".join(x for x in (note, verdict) if x)))
    peaks = {"fp32_gflops": round(matmul_peak("fp32") / 1e9, 1), "bf16_gflops": round(matmul_peak("bf16") / 1e9, 1),
             "bf16_native": native}
    report = build_report(args, plan, rows, peaks, b77_run, conll_run, len(test), len(conll_examples), started)
    out = BENCH / "results" / ("infer-quick.json" if args.quick else "infer.json")
    bench_train.write_json_atomic(out, report)
    lines = render(report)
    write_results_md(lines, quick=args.quick)
    print("\n".join(lines[1:-1]))
    return 0


def build_report(args: Any, plan: Plan, rows: list[dict[str, Any]], peaks: dict[str, Any], b77_run: Path,
                 conll_run: Path, n_test: int, n_conll: int, started: float) -> dict[str, Any]:
    base = rows[0]
    timed = [r for r in rows[1:] if "throughput_per_s" in r]
    best = max(timed, key=lambda r: r["throughput_per_s"])
    within = [r for r in timed if (base["accuracy"] - r["accuracy"]) * 100 <= 0.5]
    best_within = max(within, key=lambda r: r["throughput_per_s"]) if within else None
    fastest_b1 = min(timed, key=lambda r: r["p50_ms"])
    summary = {"fastest": _versus(best, base), "fastest_within_half_point": _versus(best_within, base)
               if best_within else None, "lowest_p50": {"system": fastest_b1["system"], "p50_ms": fastest_b1["p50_ms"]}}
    return {"benchmark": "infer", "quick": args.quick, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "make bench-infer" + ("-quick" if args.quick else ""), "machine": bench_train.machine_info(),
            "models": {"banking77": os.path.relpath(b77_run, ROOT), "conll2003": os.path.relpath(conll_run, ROOT)},
            "plan": plan.__dict__, "test_size": n_test, "conll_test_sentences": n_conll, "matmul_peaks": peaks,
            "rows": rows, "summary": summary, "seconds": round(time.perf_counter() - started, 1)}


def _versus(row: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    speedup = row["throughput_per_s"] / base["throughput_per_s"]
    return {"system": row["system"], "speedup_vs_pipeline": round(speedup, 2),
            "accuracy_loss_points": round((base["accuracy"] - row["accuracy"]) * 100, 2)}


def render(report: dict[str, Any]) -> list[str]:
    plan, peaks, s = report["plan"], report["matmul_peaks"], report["summary"]
    lines = [START, "## Inference benchmark" + (" (quick)" if report["quick"] else ""), "",
             f"Command: `{report['command']}`, {report['date']}, {report['seconds']:.0f} s. Machine: "
             f"{report['machine']['cpu_model']}, {report['machine']['cpus']} CPUs. Models: MiniLM fine-tuned on "
             f"{plan['b77_train']} Banking77 questions ({plan['b77_epochs']} epochs; accuracy on "
             f"{report['test_size']} test questions; speed on 512 of them, mixed length) and on "
             f"{plan['conll_sentences'] or 'all'} CoNLL-2003 eng.train sentences ({plan['conll_epochs']} epochs; "
             f"entity F1 on {report['conll_test_sentences']} eng.testb sentences).",
             f"Limit line, matmul peaks measured here (torch, 1024^2): fp32 {peaks['fp32_gflops']} GFLOP/s, bf16 "
             f"{peaks['bf16_gflops']} GFLOP/s ({'native' if peaks['bf16_native'] else 'no native bf16 on this CPU'}).",
             "", "| system | Banking77 accuracy | CoNLL F1 | texts/s at batch 32 | p50 ms batch 1 | p95 ms batch 1 | "
             "notes |", "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        if "refused" in r:
            lines.append(f"| {r['system']} | | | | | | {r['refused']} |")
            continue
        lines.append(f"| {r['system']} | {r['accuracy']:.4f} | {r['conll_f1']:.4f} | {r['throughput_per_s']:.1f} | "
                     f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r.get('note', '')} |")
    f, w = s["fastest"], s["fastest_within_half_point"]
    lines += ["", f"Fastest: {f['system']}, **{f['speedup_vs_pipeline']:.2f}x** the pipeline's throughput at "
              f"{-f['accuracy_loss_points']:+.2f} accuracy points."
              + (f" Fastest within 0.5 points: {w['system']}, **{w['speedup_vs_pipeline']:.2f}x**." if w else
                 " No system is within 0.5 points of the pipeline's accuracy.")
              + f" Lowest p50 at batch 1: {s['lowest_p50']['system']}, {s['lowest_p50']['p50_ms']:.2f} ms. Targets: "
              "6x at <= 0.5 points loss; p50 <= 1 ms for a 16-token text.", END]
    return lines


def write_results_md(lines: list[str], quick: bool) -> None:
    """Replace this mode's section of RESULTS.md (the quick and the full run each keep their own)."""
    start, end = (START.replace("bench-infer", "bench-infer:quick"), END.replace("bench-infer", "bench-infer:quick")) \
        if quick else (START, END)
    lines = [start, *lines[1:-1], end]
    md = BENCH / "RESULTS.md"
    text = md.read_text(encoding="utf-8")
    if start in text and end in text:
        text = text.split(start)[0] + "\n".join(lines) + text.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    bench_train.write_text_atomic(md, text)


if __name__ == "__main__":
    sys.exit(main())
