"""Eager against `torch.compile` for CPU training: Banking77's real length-grouped batches through the bundled
MiniLM (77 labels, bf16 autocast where the CPU runs it natively, word embeddings frozen as TuneLab's default does),
forward + backward + fused AdamW step. Each mode runs in a fresh process on the same batches; reported: the first
step (where compilation happens), the median step after warm-up, the wall time of all steps, and how many steps a
compiled run needs before its compile time has paid for itself. Each compiled mode starts with an empty inductor
cache (a warm cache from an earlier run makes the first step several times shorter).

    .venv/bin/python benchmarks/probe_compile.py                 # 282 steps = one Banking77 epoch at batch 32
    .venv/bin/python benchmarks/probe_compile.py --steps 60 --modes eager,dynamic

Modes: eager; dynamic = torch.compile(model, dynamic=True) (one graph for every batch shape); default =
torch.compile(model) (specialises on the first shape, recompiles as dynamic once a second shape comes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import csv, json, statistics, sys, time, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from tunelab.models.resolve import resolve_model_path
from tunelab.training.batching import plan_batches
from tunelab.training.precision import choose_precision
from tunelab.training.schedule import build_optimizer
mode, steps, threads, data = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(0)
with open(data, encoding="utf-8", newline="") as handle:
    rows = list(csv.DictReader(handle))
names = sorted({r["category"] for r in rows})
folder = resolve_model_path("minilm")
tokenizer = AutoTokenizer.from_pretrained(folder)
encoded = tokenizer([r["text"] for r in rows], truncation=True, max_length=64)["input_ids"]
targets = [names.index(r["category"]) for r in rows]
model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(names), attn_implementation="eager")
model.get_input_embeddings().weight.requires_grad_(False)
model.train()
optimizer = build_optimizer(model, 2e-4, 0.01)
precision = choose_precision("auto")
run = model if mode == "eager" else torch.compile(model, dynamic=True if mode == "dynamic" else None)
batches = plan_batches([len(e) for e in encoded], 32, 0, 0)[:steps]
times = []
started = time.perf_counter()
for batch in batches:
    t0 = time.perf_counter()
    width = max(len(encoded[i]) for i in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for row, i in enumerate(batch):
        ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
        mask[row, : len(encoded[i])] = 1
    with precision.autocast():
        logits = run(input_ids=ids, attention_mask=mask).logits
    loss = torch.nn.functional.cross_entropy(logits.float(), torch.tensor([targets[i] for i in batch]))
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - t0)
total = time.perf_counter() - started
warm = times[20:] or times
print(json.dumps({"mode": mode, "precision": precision.dtype, "steps": len(times), "first_step_s": times[0],
                  "first_20_steps_s": sum(times[:20]), "median_step_ms": 1000 * statistics.median(warm),
                  "total_s": total, "final_loss": float(loss)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=282)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", default="eager,dynamic,default")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "banking77" / "train.csv"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_train  # machine info

    found = {}
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory() as cache:  # a cold compile: no inductor cache from an earlier run
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
            done = subprocess.run([sys.executable, "-c", CHILD, mode, str(args.steps), str(args.threads), args.data],
                                  capture_output=True, text=True, env=env)
        if done.returncode:
            found[mode] = {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
            continue
        found[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    eager = found.get("eager", {})
    for mode, result in found.items():
        if mode == "eager" or "error" in result or "error" in eager:
            continue
        gain_ms = eager["median_step_ms"] - result["median_step_ms"]
        result["step_speedup"] = round(eager["median_step_ms"] / result["median_step_ms"], 3)
        result["total_ratio"] = round(eager["total_s"] / result["total_s"], 3)
        overhead = result["first_20_steps_s"] - eager["first_20_steps_s"]
        result["break_even_steps"] = round(20 + 1000 * overhead / gain_ms) if gain_ms > 0 else None
    from tunelab.training.precision import cpu_flags

    machine = bench_train.machine_info()
    flags = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx"))))
    print(json.dumps({"steps": args.steps, "threads": args.threads, "cpu": machine["cpu_model"],
                      "cpu_flags": flags, "torch": machine["versions"]["torch"], "results": found}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
