#!/usr/bin/env python
"""Probe behind the default batch size (training/defaults.py, BATCH_32_FROM): fine-tune the bundled MiniLM with
TuneLab's defaults on a sample of a data set, at the default batch size or a given one, and print the test accuracy.

The sample is what the active-learning benchmark's random strategy would hold: 10 questions per class, then a
uniform draw from the rest up to SIZE (seeded).

    .venv/bin/python benchmarks/probe_batch.py banking77 2310 0 default
    .venv/bin/python benchmarks/probe_batch.py banking77 2310 0 16
    .venv/bin/python benchmarks/probe_batch.py twitter 3000 0 16
    .venv/bin/python benchmarks/probe_batch.py banking77 2310 0 default 1e-4   # a peak learning rate too
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from bench_active import DATASETS, SHARED  # noqa: E402  (the same data sets, files and label columns)


def main(argv: list[str]) -> int:
    import tunelab

    if len(argv) not in (4, 5) or argv[0] not in DATASETS:
        print(__doc__, file=sys.stderr)
        return 2
    name, size, seed, batch = argv[0], int(argv[1]), int(argv[2]), argv[3]
    lr = float(argv[4]) if len(argv) == 5 else None
    folder, train_file, test_file, label, _title = DATASETS[name]
    root = SHARED / folder
    with open(root / train_file, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_class.setdefault(row[label], []).append(i)
    start = [i for members in by_class.values() for i in rng.sample(members, 10)]
    taken = set(start)
    picked = start + rng.sample([i for i in range(len(rows)) if i not in taken], size - len(start))
    work = BENCH / "work" / "batch-probe" / (f"{name}-{size}-s{seed}-{batch}" + (f"-lr{lr:g}" if lr else ""))
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "train.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", label])
        writer.writerows([rows[i]["text"], rows[i][label]] for i in picked)
    started = time.perf_counter()
    options: dict[str, float | int] = {} if batch == "default" else {"batch_size": int(batch)}
    if lr:
        options["lr"] = lr
    summary = tunelab.train(data=str(work / "train.csv"), test=str(root / test_file), output=str(work / "run"),
                            label_column=label, seed=seed, show_progress=False, model="minilm", **options)
    print(json.dumps({"data": name, "size": size, "seed": seed, "batch": batch, "lr": lr or "default",
                      "test_accuracy": summary.manifest.metrics["test"]["accuracy"],
                      "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
