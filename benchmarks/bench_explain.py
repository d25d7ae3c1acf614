#!/usr/bin/env python
"""Explanation benchmark: p50 cost of explaining one 32-token text with the bundled MiniLM (integrated gradients
and gradient x input), and the deletion curve: the predicted label's probability as the top-attributed words are
deleted one by one, against deleting as many random words.

The model: MiniLM fine-tuned briefly on a seeded Banking77 subset (../shared/data/banking77: 10 intents, 40
questions each, 3 epochs at the default learning rate), or `--run` an existing classification run. Whole
benchmark: about 2-3 minutes on a quiet 2-CPU machine.

    .venv/bin/python benchmarks/bench_explain.py [--run RUN] [--threads N] [--repeats 20] [--sample 40]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (machine info, atomic writers, RESULTS.md sections)

DATA = ROOT.parent / "shared" / "data" / "banking77"
TARGET_P50_MS = 300.0  # issue 19: one IG explanation of a 32-token text with the bundled model
MAX_DELETED = 5


def log(message: str) -> None:
    print(f"[bench-explain {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def read_rows(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text"], r["category"]) for r in csv.DictReader(handle)]


def subset(rows: list[tuple[str, str]], intents: list[str], per_intent: int) -> list[tuple[str, str]]:
    by_intent: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for text, label in rows:
        if label in intents:
            by_intent[label].append((text, label))
    out = []
    for label in intents:
        random.Random(0).shuffle(by_intent[label])
        out += by_intent[label][:per_intent]
    return out


def train_run(work: Path) -> tuple[Path, list[tuple[str, str]], float]:
    """A MiniLM run on 10 Banking77 intents (400 questions, 3 epochs); returns it with held-out test rows."""
    import tunelab

    train_rows, test_rows = read_rows(DATA / "train.csv"), read_rows(DATA / "test.csv")
    intents = sorted({label for _, label in train_rows})
    intents = sorted(random.Random(0).sample(intents, 10))
    train = bench_train.write_rows(work / "train.csv", subset(train_rows, intents, 40))
    test_subset = subset(test_rows, intents, 10)
    dev = bench_train.write_rows(work / "dev.csv", test_subset[::2])
    log("training MiniLM on 10 Banking77 intents (400 questions, 3 epochs)")
    started = time.perf_counter()
    tunelab.train(data=str(train), dev=str(dev), test=str(dev), task="classification", model="minilm",
                  output=str(work / "run"), epochs=3, batch_size=16, max_length=64, patience=0,
                  seed=0, show_progress=False)
    log(f"trained in {time.perf_counter() - started:.0f} s")
    return work / "run", test_subset[1::2], time.perf_counter() - started


def text_of_tokens(predictor: Any, pool: list[str], n_tokens: int) -> str:
    """A text whose encoding is exactly `n_tokens` long (special tokens included), from the pool's words."""
    words = " ".join(pool).split()
    for end in range(len(words), 0, -1):
        text = " ".join(words[:end])
        if len(predictor.tokenizer(text)["input_ids"]) <= n_tokens:
            if len(predictor.tokenizer(text)["input_ids"]) == n_tokens:
                return text
    raise SystemExit(f"cannot build a {n_tokens}-token text from the pool")


def time_explanations(predictor: Any, text: str, method: str, repeats: int) -> dict[str, Any]:
    from tunelab.inference.explain import explain

    for _ in range(2):  # warm-up: first-call allocations, Captum imports
        explain(predictor, text, method=method)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        (explanation,) = explain(predictor, text, method=method)
        times.append((time.perf_counter() - started) * 1000.0)
    times.sort()
    return {"method": method, "p50_ms": round(statistics.median(times), 1),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1), "min_ms": round(times[0], 1),
            "repeats": repeats, "delta": explanation.delta}


def delete(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return " ".join(text.split()) or "."


def deletion_curves(predictor: Any, texts: list[str]) -> dict[str, Any]:
    """Mean probability of the predicted label after deleting the k top-attributed words (IG, grad) or k random
    words (3 seeded draws), k = 0..MAX_DELETED; texts shorter than MAX_DELETED + 1 words are skipped."""
    from tunelab.inference.explain import explain

    rng = random.Random(0)
    variants: dict[str, list[list[str]]] = {"ig": [], "grad": [], "random": []}
    labels, used = [], 0
    for text in texts:
        explained = {m: explain(predictor, text, method=m)[0] for m in ("ig", "grad")}
        words = explained["ig"].words
        if len(words) <= MAX_DELETED:
            continue
        used += 1
        labels.append(explained["ig"].label)
        for method, explanation in explained.items():
            order = sorted(explanation.words, key=lambda w: -w.score)
            variants[method].append([delete(text, [(w.start, w.end) for w in order[:k]])
                                     for k in range(MAX_DELETED + 1)])
        for _ in range(3):
            shuffled = rng.sample(list(words), len(words))
            variants["random"].append([delete(text, [(w.start, w.end) for w in shuffled[:k]])
                                       for k in range(MAX_DELETED + 1)])
    curves = {}
    for name, rows in variants.items():
        row_labels = labels if name != "random" else [x for x in labels for _ in range(3)]
        flat = [t for row in rows for t in row]
        probs = predictor.predict_proba(flat, batch_size=64)
        matrix = [[probs[i * (MAX_DELETED + 1) + k][label] for k in range(MAX_DELETED + 1)]
                  for i, label in enumerate(row_labels)]
        curves[name] = [round(statistics.fmean(col), 4) for col in zip(*matrix)]
    return {"k": list(range(MAX_DELETED + 1)), "texts": used, "probability": curves,
            "aopc": {n: round(statistics.fmean(c[0] - p for p in c[1:]), 4) for n, c in curves.items()}}


def plot_curves(curves: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    names = {"ig": "top words (integrated gradients)", "grad": "top words (gradient x input)",
             "random": "random words (3 draws)"}
    for name, values in curves["probability"].items():
        axis.plot(curves["k"], values, marker="o", label=names[name])
    axis.set_xlabel("words deleted")
    axis.set_ylabel("probability of the predicted label")
    axis.set_ylim(0, 1)
    axis.set_title(f"Deletion curve, MiniLM on Banking77 ({curves['texts']} test questions)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def render(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = ["## Explanation benchmark", "", f"Command: {command}. Finished {result['finished']}, "
             f"{result['wall_s']:.0f} s in all ({result['train_s']:.0f} s training, {result['idle_wait_s']:.0f} s "
             "waiting for other processes to leave the CPUs before timing).", "",
             f"Machine: {m['cpu_model']}, {m['cpus']} CPUs (torch threads: {result['threads']}), CPU flags: "
             f"{m['cpu_flags'] or 'none of avx/amx'}; other processes used {result['other_cpu_share']:.0%} of the "
             f"CPUs during the timings. Model: {result['model']}.", "",
             f"One explanation of a {result['tokens']}-token text (special tokens included), "
             f"{result['timings'][0]['repeats']} repeats after 2 warm-ups:", "",
             "| method | p50 ms | p90 ms | min ms | IG delta |", "|---|---|---|---|---|"]
    for t in result["timings"]:
        delta = "–" if t["delta"] is None else f"{t['delta']:+.4f}"
        lines.append(f"| {t['method']} | {t['p50_ms']} | {t['p90_ms']} | {t['min_ms']} | {delta} |")
    ig = result["timings"][0]["p50_ms"]
    lines += ["", f"Target: IG p50 < {TARGET_P50_MS:.0f} ms: {'met' if ig < TARGET_P50_MS else 'NOT met'} "
              f"({ig} ms).", "", "Deletion curve (mean probability of the predicted label after deleting k words, "
              f"{result['deletion']['texts']} held-out questions; `explain-deletion.png`):", "",
              "| words deleted | " + " | ".join(str(k) for k in result["deletion"]["k"]) + " | AOPC |",
              "|---" * (len(result["deletion"]["k"]) + 2) + "|"]
    for name, values in result["deletion"]["probability"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) +
                     f" | {result['deletion']['aopc'][name]:.3f} |")
    lines += ["", "AOPC: the mean drop in probability over k = 1..5 (higher: the attributions found the words "
              "the model relies on)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="an existing classification run (default: train one on Banking77)")
    parser.add_argument("--threads", type=int, help="torch threads (default: every CPU this process may use)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sample", type=int, default=40, help="held-out questions for the deletion curve")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--wait-idle", type=float, default=120.0,
                        help="wait up to this many seconds for other processes to leave the CPUs before timing")
    args = parser.parse_args(argv)
    import os

    import torch

    from tunelab.inference import Predictor
    from tunelab.training.precision import cpu_flags

    started = time.perf_counter()
    work = BENCH / "work" / "explain"
    work.mkdir(parents=True, exist_ok=True)
    if args.run:
        run, held_out, train_s = Path(args.run), read_rows(DATA / "test.csv"), 0.0
    else:
        if not DATA.is_dir():
            raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/data/banking77 (or --run)")
        run, held_out, train_s = train_run(work)
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    predictor = Predictor.load(run)
    texts = [t for t, label in held_out if label in predictor.labels]  # --run: the intents it knows
    random.Random(1).shuffle(texts)
    text = text_of_tokens(predictor, texts[:20], args.tokens)
    log(f"timing one explanation of a {args.tokens}-token text: {text!r}")
    waited = time.perf_counter()
    share = bench_train.wait_for_idle(args.wait_idle) if args.wait_idle > 0 else None
    waited = time.perf_counter() - waited
    log(f"other processes used {share:.0%} of the CPUs before timing" if share is not None else "no idle wait")
    busy, own = bench_train.cpu_busy_seconds(), sum(os.times()[:2])
    timing_started = time.perf_counter()
    timings = [time_explanations(predictor, text, m, args.repeats) for m in ("ig", "grad")]
    timing_wall = time.perf_counter() - timing_started
    others = bench_train.cpu_busy_seconds() - busy - (sum(os.times()[:2]) - own)  # CPU seconds not ours
    log(f"IG p50 {timings[0]['p50_ms']} ms, grad p50 {timings[1]['p50_ms']} ms; deletion curve on "
        f"{args.sample} questions")
    deletion = deletion_curves(predictor, texts[: args.sample])
    machine = bench_train.machine_info()
    machine["cpu_flags"] = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma"))))
    result = {"machine": machine, "threads": threads, "model": f"MiniLM run {run}", "tokens": args.tokens,
              "text": text, "timings": timings, "deletion": deletion, "train_s": round(train_s, 1),
              "idle_wait_s": round(waited, 1),
              "other_cpu_share": round(max(0.0, others) / (timing_wall * machine["cpus"]), 3),
              "wall_s": time.perf_counter() - started, "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    plot_curves(deletion, BENCH / "results" / "explain-deletion.png")
    bench_train.write_json_atomic(BENCH / "results" / "explain.json", result)
    flags = "".join(f" --{k} {v}" for k, v in (("run", args.run), ("threads", args.threads)) if v)
    if args.wait_idle != 120.0:
        flags += f" --wait-idle {args.wait_idle:g}"
    command = f"`make bench-explain` (ran as `.venv/bin/python benchmarks/bench_explain.py{flags}`)"
    section = render(result, command)
    bench_train.update_results_md(BENCH / "RESULTS.md", "main", section, bench="bench-explain")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
