"""Eager against SDPA attention for CPU training: median time of one forward+backward step (bf16 autocast) and,
with --memory, the peak resident memory of one step, each implementation in a fresh process. The numbers behind
`models/attention.py`'s choice of eager attention for training steps on a CPU.

    .venv/bin/python benchmarks/probe_attention.py minilm 32 32
    .venv/bin/python benchmarks/probe_attention.py multilingual 16 128
    .venv/bin/python benchmarks/probe_attention.py multilingual 8 488 --memory
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CHILD = r"""
import json, resource, statistics, sys, time, torch
from transformers import AutoModelForSequenceClassification
from tunelab.models.resolve import resolve_model_path
name, impl, batch, length, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)
model = AutoModelForSequenceClassification.from_pretrained(resolve_model_path(name), num_labels=2,
                                                           attn_implementation=impl)
model.train()
ids = torch.randint(5, 1000, (batch, length))
mask = torch.ones(batch, length, dtype=torch.long)
mask[: batch // 2, length // 2:] = 0
times = []
for _ in range(repeats):
    started = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(input_ids=ids, attention_mask=mask).logits
    logits.float().sum().backward()
    model.zero_grad()
    times.append(time.perf_counter() - started)
print(json.dumps({"impl": impl, "median_ms": 1000 * statistics.median(times[1:] or times),
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="minilm, mpnet, multilingual or a model folder")
    parser.add_argument("batch", type=int)
    parser.add_argument("length", type=int)
    parser.add_argument("--memory", action="store_true", help="one step per process: its peak memory")
    args = parser.parse_args()
    repeats = 1 if args.memory else 6
    found = {}
    for impl in ("sdpa", "eager"):
        done = subprocess.run([sys.executable, "-c", CHILD, args.model, impl, str(args.batch), str(args.length),
                               str(repeats)], capture_output=True, text=True, check=True)
        found[impl] = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = found["eager"]["median_ms"] / found["sdpa"]["median_ms"]
    print(json.dumps({"model": args.model, "batch": args.batch, "length": args.length, **found,
                      "eager_over_sdpa_time": round(ratio, 3),
                      "probe_peak_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20}, indent=2))
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    sys.exit(code)
