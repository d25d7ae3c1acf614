#!/usr/bin/env python
"""Training benchmark: TuneLab at its defaults vs the Hugging Face Trainer at its best on this machine.

For each data set (Banking77 intent classification, CoNLL-2003 NER) these jobs run one after the other,
each in its own subprocess so that peak RSS is per job:

1. `tunelab.train(...)` with TuneLab's defaults (quick mode forces 2 epochs);
2. the Trainer at its best: TuneLab's resolved epochs, batch size, lr, seed and max_length (read from the run
   folder's config.yaml), the same base model folder, dynamic padding, length grouping
   (`train_sampling_strategy="group_by_length"`), `bf16=True` where the CPU runs bf16 natively (the test
   TuneLab uses: `tunelab.training.precision.cpu_has_bf16`) and TuneLab's attention kernel for training steps
   (eager on CPU; both sides score the test split with SDPA, the kernel a saved model loads with);
3. ablations that say where a difference comes from (skipped with --best-only): the same Trainer in fp32
   (only where 2. is bf16), and the Trainer at its defaults (fp32, random order, default attention).

Every job scores the test split after each epoch (TuneLab: after each of its dev evaluations, through the
loop's `on_event` hook) and records the wall seconds since the job started, so data loading, tokenisation
and evaluations are in them. Time to target = seconds until a side's model first reaches the metric the
Trainer's best side ends with. Both sides are scored with `tunelab.evaluation.metrics` (accuracy; strict
IOB2 entity micro F1 over words). The precision column is what the training forwards ran in (dtype of the
last linear layer's output), not what was asked for. Results go to a JSON file and to a section of
benchmarks/RESULTS.md between `<!-- bench-train:{mode} start/end -->` markers.

    make bench-train-quick   # = .venv/bin/python benchmarks/bench_train.py --mode quick
    make bench-train         # = .venv/bin/python benchmarks/bench_train.py --mode full
    # smoke: tiny subsets, no idle wait; writes under benchmarks/work/smoke/, never RESULTS.md
    .venv/bin/python benchmarks/bench_train.py --mode smoke

Data comes from ../shared/data (read-only); quick/smoke subsets are written under benchmarks/work/.
"""

from __future__ import annotations

import argparse
import collections
import csv
import functools
import io
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
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from train_curve import CurvePoint, ratio, speed_factors, time_to_target
from train_sides import child_trainer, child_tunelab, read_conll_blocks

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
DATA = Path(os.environ.get("TUNELAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATASETS = ("banking77", "conll")
QUICK = {"epochs": 2, "banking77_train": 2000, "banking77_test": 1000,
         "conll_train": 2000, "conll_dev": 500, "conll_test": 500, "subset_seed": 0}
SMOKE = {"epochs": 2, "banking77_train": 120, "banking77_test": 60, "banking77_classes": 6,
         "conll_train": 60, "conll_dev": 30, "conll_test": 60, "subset_seed": 0,
         "threads": 1}  # the smoke run only checks the bench: one core, left to whoever shares the machine
SUBSETS = {"quick": QUICK, "smoke": SMOKE}
# Issue 17: time to the Trainer's (best side's) test metric at least 2x shorter, samples/s at least 1.5x.
TARGETS = {"banking77_accuracy": 0.93, "conll_f1": 0.89, "time_to_target_ratio": 2.0, "throughput_ratio": 1.5,
           "mfu": 0.40}
METRIC = {"banking77": "accuracy", "conll": "f1"}
TITLE = {"banking77": "Banking77", "conll": "CoNLL-2003"}
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONDONTWRITEBYTECODE": "1"}


@functools.cache  # importing tunelab sets the spin count once: a second call would see it already taken out
def tunelab_host() -> tuple[bool, str | None]:
    """(native bf16, TuneLab's OpenMP spin count), read from this checkout's TuneLab: native bf16 is its own
    test (`tunelab.training.precision.cpu_has_bf16`: avx512_bf16 or amx_bf16); the spin count is the
    GOMP_SPINCOUNT that importing tunelab puts into os.environ where none was set. That value is taken back out
    of this process's environment (baselines other benchmarks start must not inherit it) and handed to every
    training job explicitly (`launch`), so both sides' OpenMP threads wait alike."""
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    before = os.environ.get("GOMP_SPINCOUNT")
    from tunelab.training.precision import cpu_has_bf16 as native_bf16

    spin = os.environ.get("GOMP_SPINCOUNT")
    if before is None:
        os.environ.pop("GOMP_SPINCOUNT", None)
    return native_bf16(), spin


def cpu_has_bf16() -> bool:
    return tunelab_host()[0]


def log(message: str) -> None:
    print(f"[bench-train {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Data: paths per mode (quick mode writes subsets under benchmarks/work/)
# --------------------------------------------------------------------------------------------------

def write_conll(path: Path, blocks: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("-DOCSTART- -X- O O\n\n")
        for block in blocks:
            handle.write("\n".join(block) + "\n\n")


def csv_subset(source: Path, target: Path, n: int, seed: int, classes: int | None = None) -> int:
    """`n` rows of `source` after a seeded shuffle (the Banking77 files are sorted by intent, so the
    first rows alone would hold only a few intents); `classes`: only rows of the first that many intents
    in name order (smoke subsets are too small to hold every intent twice)."""
    with open(source, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    if classes:
        kept = set(sorted({row["category"] for row in rows})[:classes])
        rows = [row for row in rows if row["category"] in kept]
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
        sizes = SUBSETS[mode]
        seed, classes = sizes["subset_seed"], sizes.get("banking77_classes")
        n_train = csv_subset(train, folder / "banking77-train.csv", sizes["banking77_train"], seed, classes)
        n_test = csv_subset(test, folder / "banking77-test.csv", sizes["banking77_test"], seed, classes)
        return {"train": str(folder / "banking77-train.csv"), "dev": None,
                "test": str(folder / "banking77-test.csv"),
                "note": f"{n_train} train / {n_test} test rows after a seeded shuffle (seed {seed})"
                        + (f" of the first {classes} intents by name" if classes else
                           "; the files are sorted by intent, so the first rows would cover only 17 intents")}
    files = {k: DATA / "conll2003" / f for k, f in (("train", "eng.train"), ("dev", "eng.testa"),
                                                    ("test", "eng.testb"))}
    if mode == "full":
        return {**{k: str(v) for k, v in files.items()}, "note": "full official splits"}
    folder = work / "data" / "conll2003"  # same file names as the originals: TuneLab guesses the format
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    sizes = {split: SUBSETS[mode][f"conll_{split}"] for split in ("train", "dev", "test")}
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

def run_child(spec_path: str) -> int:
    started = time.perf_counter()
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    spin = os.environ.get("GOMP_SPINCOUNT")  # what OpenMP sees: both sides import torch before anything else
    result = child_tunelab(spec, started) if spec["side"].startswith("tunelab") else child_trainer(spec, started)
    result["gomp_spincount"] = spin
    write_json_atomic(Path(spec["result"]), result)
    return 0


# --------------------------------------------------------------------------------------------------
# Parent: run the jobs one at a time, collect, write JSON and the RESULTS.md section
# --------------------------------------------------------------------------------------------------

def write_rows(path: Path, rows: Iterable[tuple[str, str]]) -> Path:
    """(text, label) rows as a CSV with a text,label header (the benches' training and test files), written whole
    and then renamed into place, so a run beside the writer never reads half a file."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    write_text_atomic(path, text.getvalue())
    return path


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
    env = {**os.environ, **CHILD_ENV, **spec.get("env", {})}
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


@dataclass(frozen=True)
class Ablation:
    """TuneLab with one default changed back, so that default's cost or gain is measured in the same run: `side`
    runs with `options` and differs from the side `against` by `default` alone."""

    side: str
    options: dict[str, Any]
    label: str
    default: str
    against: str = "tunelab"
    datasets: tuple[str, ...] = DATASETS  # where the default it undoes applies


TUNELAB_ABLATIONS = (
    Ablation("tunelab_all_layers_trained", {"frozen_layers": 0}, "TuneLab, every layer trained (ablation)",
             "the frozen bottom layers with their output cached"),
    Ablation("tunelab_embeddings_trained", {"frozen_layers": 0, "word_embeddings": "train"},
             "TuneLab, every layer and the word embeddings trained (ablation)", "the frozen word embeddings",
             against="tunelab_all_layers_trained"),
    Ablation("tunelab_cross_entropy", {"loss": "cross_entropy"}, "TuneLab, cross-entropy loss (ablation)",
             "LogitNorm", datasets=("banking77",)),  # a label per word keeps the cross-entropy anyway
    Ablation("tunelab_no_average", {"ema_decay": 0.0}, "TuneLab, no weight average (ablation)",
             "the weight average"),
)


def trainer_sides(bf16: bool, best_only: bool) -> list[tuple[str, dict[str, Any]]]:
    """(side, settings) of the Trainer jobs: its best configuration first, then the ablations."""
    sides = [("trainer_best", {"group_by_length": True, "bf16": bf16, "attention": "eager"})]
    if best_only:
        return sides
    if bf16:
        sides.append(("trainer_grouped_fp32", {"group_by_length": True, "bf16": False, "attention": "eager"}))
    sides.append(("trainer_defaults", {"group_by_length": False, "bf16": False, "attention": None}))
    return sides


def run_dataset(dataset: str, mode: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    data = prepare_data(dataset, mode, work)
    epochs = SUBSETS[mode]["epochs"] if mode in SUBSETS else None
    runs = work / "runs"
    entry: dict[str, Any] = {"dataset": dataset, "data": data, "jobs": {}}
    bf16, spin = tunelab_host()
    base = {"dataset": dataset, "mode": mode, "data": data, "progress": args.progress,
            "env": {"GOMP_SPINCOUNT": spin} if spin else {}}
    tl = measure(f"{dataset}/tunelab", {**base, "side": "tunelab", "run_dir": str(runs / f"{dataset}-tunelab"),
                                        "epochs": epochs, "threads": SUBSETS.get(mode, {}).get("threads"),
                                        "result": str(work / f"{dataset}-tunelab.result.json")},
                 work, args)
    entry["jobs"]["tunelab"] = tl
    if "error" in tl:
        entry["jobs"]["trainer_best"] = {"error": "skipped: the TuneLab job failed, so its resolved "
                                                  "hyper-parameters are unknown"}
        return entry
    if not args.best_only or args.tunelab_ablations:
        for ablation in TUNELAB_ABLATIONS:
            if dataset not in ablation.datasets or (args.ablation and ablation.side not in args.ablation):
                continue
            name = ablation.side.replace("_", "-")
            entry["jobs"][ablation.side] = measure(f"{dataset}/{name}", {
                **base, "side": ablation.side, "run_dir": str(runs / f"{dataset}-{name}"), "epochs": epochs,
                "threads": SUBSETS.get(mode, {}).get("threads"), "options": ablation.options,
                "result": str(work / f"{dataset}-{name}.result.json")}, work, args)
    hparams = {k: tl[k] for k in ("epochs", "batch_size", "lr", "seed", "max_length")}
    hparams["threads"] = tl["torch_threads"]  # TuneLab uses every CPU; torch's default may be fewer
    for side, settings in trainer_sides(bf16, args.best_only):
        name = side.replace("_", "-")
        entry["jobs"][side] = measure(f"{dataset}/{name}", {
            **base, **settings, "side": side, "run_dir": str(runs / f"{dataset}-{name}"), "hparams": hparams,
            "result": str(work / f"{dataset}-{name}.result.json")}, work, args)
    entry["ratios"] = compare(entry["jobs"])
    return entry


def samples_per_second(job: dict[str, Any] | None) -> float | None:
    return None if not job or "error" in job else job["samples_per_second"]


def compare(jobs: dict[str, Any]) -> dict[str, Any]:
    """TuneLab against the Trainer's best side: time to the best side's final test metric, samples/s, and the
    samples/s lead split into grouping, precision and loop (`train_curve.speed_factors`)."""
    tl, best = jobs["tunelab"], jobs.get("trainer_best") or {"error": "not run"}
    if "error" in tl or "error" in best:
        return {}
    target = best["test_metric"]
    reached = {side: time_to_target([CurvePoint.from_json(p) for p in job.get("curve", [])], target)
               for side, job in jobs.items() if "error" not in job}
    factors = speed_factors(samples_per_second(tl), samples_per_second(best),
                            samples_per_second(jobs.get("trainer_grouped_fp32")),
                            samples_per_second(jobs.get("trainer_defaults")), best["precision"] == "bf16")
    return {
        "target_metric": target, "time_to_target": reached,
        "time_to_target_ratio": ratio(reached.get("trainer_best"), reached.get("tunelab")),
        "throughput": ratio(tl["samples_per_second"], best["samples_per_second"]),
        "throughput_loop_wall": ratio(tl["samples_processed"] / tl["train_loop_wall_seconds"],
                                      best["samples_processed"] / best["train_loop_wall_seconds"]),
        "metric_difference": round(tl["test_metric"] - target, 6),
        "peak_rss": ratio(tl["peak_rss_mb"], best["peak_rss_mb"]),
        "job_wall": ratio(tl["job_wall_seconds"], best["job_wall_seconds"]),
        "factors": asdict(factors),
    }


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
    return {"hostname": platform.node(), "platform": platform.platform(), "arch": platform.machine(),
            "cpu_model": cpu_model(), "cpus": len(os.sched_getaffinity(0)), "memory_gib": mem,
            "cpu_bf16": cpu_has_bf16(), "versions": versions}


def ratio_target(name: str, value: float | None, threshold: float, why_missing: str) -> dict[str, Any]:
    if value is None:
        return {"target": name, "status": why_missing}
    return {"target": name, "value": value, "threshold": threshold, "met": value >= threshold,
            "margin": round(value - threshold, 3)}


def targets_summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for dataset, entry in results.items():
        tl = entry["jobs"].get("tunelab", {})
        ratios = entry.get("ratios") or {}
        threshold = TARGETS["banking77_accuracy"] if dataset == "banking77" else TARGETS["conll_f1"]
        name = f"{TITLE[dataset]} test {METRIC[dataset]} >= {threshold}"
        if "error" in tl:
            out.append({"target": name, "status": "not measured"})
        else:
            value = tl["test_metric"]
            out.append({"target": name, "value": value, "threshold": threshold,
                        "met": value >= threshold, "margin": round(value - threshold, 6)})
        reached = (ratios.get("time_to_target") or {})
        why = ("not measured" if not ratios else "**missed**: TuneLab never reached the target"
               if reached.get("tunelab") is None else "not measured (the Trainer's curve is empty)")
        out.append(ratio_target(f"{TITLE[dataset]} time to the Trainer's test {METRIC[dataset]} >= "
                                f"{TARGETS['time_to_target_ratio']:g}x shorter than the Trainer at its best",
                                ratios.get("time_to_target_ratio"), TARGETS["time_to_target_ratio"], why))
        out.append(ratio_target(f"{TITLE[dataset]} training samples/s >= {TARGETS['throughput_ratio']:g}x the "
                                "Trainer at its best", ratios.get("throughput"), TARGETS["throughput_ratio"],
                                "not measured"))
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


def fmt_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


SIDES = (("tunelab", "TuneLab"), ("trainer_best", "HF Trainer at its best"),
         *((a.side, a.label) for a in TUNELAB_ABLATIONS),
         ("trainer_grouped_fp32", "HF Trainer, best but fp32 (ablation)"),
         ("trainer_defaults", "HF Trainer at its defaults (ablation)"))


def table_row(dataset: str, side: str, label: str, job: dict[str, Any], reached: float | None) -> str:
    if "error" in job:
        return f"| {TITLE[dataset]} | {label} | failed: {job['error']} |" + " |" * 13
    examples = f"{job['train_examples']:,}"
    if side == "tunelab" and dataset == "banking77" and job.get("dev_examples"):
        examples += f" (+{job['dev_examples']:,} dev carved)"
    declared = {"no": "fp32"}.get(job.get("precision_declared"), job.get("precision_declared"))
    precision = job["precision"] + (f" (asked {declared})" if declared and declared != job["precision"] else "")
    sampling = "grouped" if "group" in str(job.get("sampling")) else job.get("sampling", "–")
    attention = str(job.get("attention", "–")).split(" ")[0]
    curve = job.get("curve") or []
    best = max((p["metric"] for p in curve), default=None)
    to_target = fmt_num(reached) if reached is not None else (
        f"not reached (best {best:.4f})" if best is not None else "–")
    others = job.get("other_cpu_share")
    return (f"| {TITLE[dataset]} | {label} | {job['metric_name']} {job['test_metric']:.4f} | {examples} | "
            f"{job['epochs']} | {job['batch_size']} | {job['lr']:g} | {job['max_length']} | {precision} | "
            f"{sampling} / {attention} | {fmt_num(job['train_seconds'])} | {fmt_num(job['samples_per_second'])} | "
            f"{to_target} | {fmt_num(job['job_wall_seconds'])} | {fmt_num(job['peak_rss_mb'], 0)} | "
            f"{fmt_num(100 * others, 0) + '%' if others is not None else '–'} |")


def dataset_notes(dataset: str, entry: dict[str, Any]) -> list[str]:
    """The ratios against the Trainer's best side, the samples/s lead split into its causes, the curves."""
    ratios, jobs = entry.get("ratios"), entry["jobs"]
    if not ratios:
        return []
    tl, best, name = jobs["tunelab"], jobs["trainer_best"], TITLE[dataset]
    reached, f = ratios["time_to_target"], ratios["factors"]
    notes = [f"- {name}: target = the best Trainer side's final test {METRIC[dataset]} {ratios['target_metric']:.4f}. "
             f"Time to target TuneLab {fmt_num(reached.get('tunelab'))} s, Trainer at its best "
             f"{fmt_num(reached.get('trainer_best'))} s: **{fmt_ratio(ratios['time_to_target_ratio'])}** "
             f"(Trainer / TuneLab; above 1 = TuneLab there sooner). Training samples/s TuneLab / Trainer at its "
             f"best **{fmt_ratio(ratios['throughput'])}** ({fmt_ratio(ratios['throughput_loop_wall'])} counting "
             f"TuneLab's whole loop with its dev evaluations and checkpoints); {METRIC[dataset]} difference "
             f"{ratios['metric_difference']:+.4f}; peak RSS ratio {fmt_ratio(ratios['peak_rss'])}; job wall ratio "
             f"{fmt_ratio(ratios['job_wall'])}.",
             f"- {name}, where the samples/s difference comes from (each step changes one thing): length grouping "
             f"and eager attention {fmt_ratio(f['grouping'])} (Trainer fp32 grouped / Trainer defaults), bf16 "
             f"{fmt_ratio(f['precision'])} (Trainer at its best / the same in fp32), TuneLab's loop "
             f"{fmt_ratio(f['loop'])} (TuneLab / Trainer at its best); TuneLab / Trainer defaults "
             f"{fmt_ratio(f['total_vs_defaults'])}."]
    if tl["precision"] != best["precision"]:
        notes.append(f"- {name}: TuneLab ran {tl['precision']}, the Trainer at its best {best['precision']}: the "
                     "loop factor above also holds that precision difference.")
    if tl.get("mfu") is not None:
        notes.append(f"- {name}: TuneLab model FLOPs utilisation {tl['mfu']:.1%} "
                     f"({tl['model_gflops_per_second']:.1f} GFLOP/s over the {tl['peak_dtype']} matmul peak "
                     f"{tl['matmul_peak_gflops_per_second']:.1f} GFLOP/s timed in the run).")
    for ablation in TUNELAB_ABLATIONS:
        changed, base = jobs.get(ablation.side), jobs.get(ablation.against)
        if not changed or not base or "error" in changed or "error" in base:
            continue
        notes.append(f"- {name}, {ablation.default} ({ablation.against.replace('_', ' ')}) against the same run "
                     f"without ({ablation.side.replace('_', ' ')}): samples/s "
                     f"{fmt_ratio(ratio(base['samples_per_second'], changed['samples_per_second']))}, "
                     f"time to target {fmt_num(reached.get(ablation.against))} s against "
                     f"{fmt_num(reached.get(ablation.side))} s, test {METRIC[dataset]} "
                     f"{base['test_metric']:.4f} against {changed['test_metric']:.4f} "
                     f"(dev {fmt_num(base.get('dev_metric'), 4)} against {fmt_num(changed.get('dev_metric'), 4)}).")
    for side, label in SIDES[:2]:
        points = ", ".join(f"{p['elapsed_seconds']:.0f} s: {p['metric']:.4f}" for p in jobs[side].get("curve", []))
        notes.append(f"- {name}, {label} test curve (seconds since job start: {METRIC[dataset]}): {points or '–'}.")
    return notes


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
    if mode in SUBSETS:
        lines += [f"{mode.capitalize()} mode: data subsets and {SUBSETS[mode]['epochs']} epochs on every side; the "
                  "accuracy/F1 targets are set for full mode and are only indicative here.", ""]
    if report.get("only"):
        lines += [f"Only `{report['only']}` was run in this invocation.", ""]
    lines += ["| data set | side | test metric | train ex. | epochs | batch | lr | max_len | precision | "
              "sampling / attention | train s | samples/s | time to target s | job wall s | peak RSS MB | others |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for dataset, entry in report["results"].items():
        reached = (entry.get("ratios") or {}).get("time_to_target") or {}
        for side, label in SIDES:
            if side in entry["jobs"]:
                lines.append(table_row(dataset, side, label, entry["jobs"][side], reached.get(side)))
        notes += dataset_notes(dataset, entry)
    shares = [job["other_cpu_share"] for entry in report["results"].values() for job in entry["jobs"].values()
              if job.get("other_cpu_share") is not None]
    if shares and max(shares) > 0.1:
        lines += ["", f"Caution: other processes used up to {max(shares):.0%} of the CPUs during a job (column "
                      "'others'), so those jobs' times and the ratios built on them are not reliable."]
    lines += ["", "Ratios (against the Trainer at its best):", *notes, "", "Targets:"]
    for target in report["targets"]:
        if "met" not in target:
            lines.append(f"- {target['target']}: {target['status']}")
            continue
        digits = ("{:.2f}x" if target["target"].endswith("at its best") else
                  "{:.1%}" if "utilisation" in target["target"] else "{:.4f}")
        value = digits.format(target["value"])
        if target["met"]:
            lines.append(f"- {target['target']}: **met** ({value}, margin {target['margin']:+.4g})")
        else:
            lines.append(f"- {target['target']}: **missed** by {-target['margin']:.4g} ({value})")
    jobs = [job for entry in report["results"].values() for job in entry["jobs"].values() if "error" not in job]
    spin = {job.get("gomp_spincount") or "unset (OpenMP's default)" for job in jobs}
    threads = sorted({str(job.get("torch_threads")) for job in jobs})
    lines += ["", FOOTER + f" Every job ran with torch threads {', '.join(threads)} (the Trainer's set to "
              f"TuneLab's) and OpenMP spin (GOMP_SPINCOUNT) {', '.join(sorted(spin))} (TuneLab's import-time "
              "default, handed to every side)."]
    return "\n".join(lines)


FOOTER = (
    "The Trainer at its best is given TuneLab's resolved epochs, batch size, lr, seed and max_length, dynamic "
    "padding (DataCollatorWithPadding / DataCollatorForTokenClassification), length grouping "
    "(`train_sampling_strategy='group_by_length'`), `bf16=True` where the CPU runs bf16 natively, and TuneLab's CPU "
    "attention kernel for training steps (eager; both sides score the test split with SDPA, the kernel the saved "
    "model loads with and TuneLab's dev evaluations use). The ablation rows drop bf16 (same settings in fp32), then "
    "everything (the Trainer's defaults: fp32, random order, its default attention). 'precision' is what the "
    "training forwards ran in (dtype of the last linear layer's output, read by a forward hook), with what was "
    "asked for when it differs. Training samples/s = samples processed in training / training seconds (TuneLab: its "
    "manifest's step time; Trainer: `train_runtime` less the test evaluations of the curve, samples = epochs x "
    "train examples). Time to target = wall seconds from the job's start (data loading, tokenisation, model "
    "loading, training and every evaluation so far included) until the first test evaluation that reaches the "
    "target; each side scores the test split after every epoch (TuneLab: after each dev evaluation, through the "
    "loop's `on_event` hook, the checkpoint the run keeps at that point, which a user stopping there would get: the "
    "trained weights or their running average, whichever scored higher on dev, or an earlier evaluation's within "
    "one standard error of the best; so its reported test metric can be an earlier epoch's). TuneLab trains on "
    "train minus its dev share when no dev file is given. Every side is scored with `tunelab.evaluation.metrics` on "
    "the same test split; NER test sentences are tagged whole on both sides (up to 512 word pieces, as TuneLab's "
    "Predictor tags them), not cut at the training length. 'others': share of the machine's CPU time used by other "
    "processes during the job (0% = clean measurement)."
)


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
    parser.add_argument("--mode", choices=("quick", "full", "smoke"), default="quick",
                        help="smoke: tiny subsets to check the bench itself (no idle wait, no retry; its JSON "
                             "and RESULTS section go under --work, never to benchmarks/results or RESULTS.md)")
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
    parser.add_argument("--tunelab-ablations", action="store_true",
                        help="run TuneLab's ablation sides (a default changed back) even with --best-only")
    parser.add_argument("--ablation", action="append", choices=[a.side for a in TUNELAB_ABLATIONS],
                        help="with --tunelab-ablations: run only this TuneLab ablation (repeatable)")
    parser.add_argument("--best-only", action="store_true",
                        help="run only TuneLab and the Trainer at its best (no fp32 and defaults ablations)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_child(args.child)

    if args.mode == "smoke":
        args.wait_idle, args.retries = 0.0, 0
        args.out = args.out or args.work / "smoke" / "train-smoke.json"
        if args.results_md == BENCH / "RESULTS.md":
            args.results_md = args.work / "smoke" / "RESULTS-smoke.md"
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
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "make_target": {"full": "make bench-train", "quick": "make bench-train-quick"}.get(args.mode, "smoke run"),
        "machine": machine_info(), "torch_threads": threads,
        "settings": {**({args.mode: SUBSETS[args.mode]} if args.mode in SUBSETS else {}),
                     "wait_idle_seconds": args.wait_idle, "max_others": args.max_others, "retries": args.retries,
                     "best_only": args.best_only, "gomp_spincount": tunelab_host()[1]},
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
