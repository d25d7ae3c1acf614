"""The distillation teacher's labelling pass in fp32 against bf16 autocast: time (each precision twice, in the order
fp32, bf16, bf16, fp32, on the same examples), and how far the soft labels move (top-class agreement, largest logit
difference, mean KL divergence of the softmaxes at the distillation temperature). Any fine-tuned run folder is a
teacher; its training examples (a seeded sample of them) are the texts.

    .venv/bin/python benchmarks/probe_teacher_pass.py RUN --examples 1500 --out benchmarks/results/distill-teacher-pass.json

Scores rows of the teacher's logits: one per example, one per word for NER (what `tunelab distill` trains on).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    z = x / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a fine-tuned run folder (the teacher)")
    parser.add_argument("--examples", type=int, default=1500, help="training examples sampled (seed 0)")
    parser.add_argument("--temperature", type=float, default=2.0, help="distillation temperature for the KL")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from bench_train import machine_info

    from tunelab.compress.distill import example_key, teacher_logits
    from tunelab.config import load_config
    from tunelab.data import load_dataset
    from tunelab.inference import Predictor
    from tunelab.training.precision import Precision, cpu_flags, set_threads

    threads = set_threads(args.threads)
    teacher = Predictor.load(args.run, backend="torch")
    config = load_config(Path(args.run) / "config.yaml")
    train = load_dataset(config.data, config.train.seed).train.examples
    picked = np.random.default_rng(0).choice(len(train), min(args.examples, len(train)), replace=False)
    examples = [train[i] for i in picked]
    seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
    rows: dict[str, np.ndarray] = {}
    for dtype in ("fp32", "bf16", "bf16", "fp32"):
        start = time.perf_counter()
        logits = teacher_logits(teacher, examples, precision=Precision(teacher.precision.device, dtype))
        seconds[dtype].append(round(time.perf_counter() - start, 3))
        rows[dtype] = np.concatenate([logits[example_key(e)].reshape(-1, logits[example_key(e)].shape[-1])
                                      for e in examples])
    exact, fast = rows["fp32"], rows["bf16"]
    p, q = softmax(exact, args.temperature), softmax(fast, args.temperature)
    kl = np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=1)
    result: dict[str, Any] = {
        "probe": "teacher-pass", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", *sys.argv]), "machine": machine_info(),
        "cpu_flags": sorted({"avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "avx2"} & cpu_flags()),
        "torch_threads": threads, "run": str(Path(args.run).resolve()), "base_model": teacher.manifest.base_model,
        "task": teacher.task.name, "examples": len(examples), "logit_rows": int(exact.shape[0]), "seconds": seconds,
        "median_seconds": {k: statistics.median(v) for k, v in seconds.items()},
        "speedup_bf16": round(statistics.median(seconds["fp32"]) / statistics.median(seconds["bf16"]), 3),
        "top_class_agreement": float(np.mean(exact.argmax(1) == fast.argmax(1))),
        "max_abs_logit_difference": float(np.abs(exact - fast).max()),
        "mean_kl_at_temperature": float(kl.mean()), "max_kl_at_temperature": float(kl.max()),
        "temperature": args.temperature}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
