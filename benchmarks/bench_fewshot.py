"""Few-shot benchmark: TuneLab's few-shot recipe against the `setfit` library itself, same bundled encoder (MiniLM,
all-MiniLM-L6-v2), same training samples, same test set, on Twitter financial news sentiment (../shared/data).

    .venv/bin/python benchmarks/bench_fewshot.py --quick    # 8 examples per class, 2 seeds, 1,000 test tweets
    .venv/bin/python benchmarks/bench_fewshot.py            # 8 and 64 examples per class, 5 seeds, all 2,388

Per seed and size, n training tweets per class are drawn (seeded) from sent_train.csv; both sides train on exactly
those, with SetFit's defaults for both: 20 pair rounds, batch 16 pairs, body lr 2e-5, 10% warm-up, one pass, a
logistic-regression head (C=1). TuneLab runs `tunelab.train(few_shot="always", dev_fraction=0, precision="fp32")`;
SetFit runs `SetFitModel.from_pretrained(<the bundled folder>)` (mean pooling, normalised) and `Trainer.train()`.
Test: sent_valid.csv (the quick mode a seeded 1,000 of it). Train seconds: TuneLab's pairs + head fit
(manifest timings.train_seconds), SetFit's `Trainer.train()`; total seconds add the test scoring (and TuneLab's
saving of its run folder). setfit is the `tunelab[setfit]` extra (it pulls no other torch); without it the
benchmark says so and reports TuneLab alone. Results: results/fewshot[-quick].json and a RESULTS.md section."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (machine info, atomic writers, the RESULTS.md section writer)

DATA = BENCH.parents[1] / "shared" / "data" / "twitter_financial_news_sentiment"
NAMES = {"0": "bearish", "1": "bullish", "2": "neutral"}
ITERATIONS, BATCH, BODY_LR = 20, 16, 2e-5  # SetFit's defaults, used by both sides


def log(message: str) -> None:
    print(f"[bench-fewshot {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def read_rows(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text"], NAMES[r["label"]]) for r in csv.DictReader(handle)]


def sample(rows: list[tuple[str, str]], per_class: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for label in sorted(NAMES.values()):
        pool = [r for r in rows if r[1] == label]
        out += rng.sample(pool, per_class)
    rng.shuffle(out)
    return out


# The recipe with SetFit's settings; the loop (tunelab-loop) with every default (the dev split, epochs, precision and
# loss `auto` would give it): what the few-shot switch chooses against.
RECIPE = {"few_shot": "always", "few_shot_iterations": ITERATIONS, "dev_fraction": 0.0, "precision": "fp32"}
LOOP = {"few_shot": "never"}


def run_tunelab(train: Path, test: Path, work: Path, seed: int, threads: int,
                options: dict[str, Any]) -> dict[str, Any]:
    import tunelab

    started = time.perf_counter()
    summary = tunelab.train(data=str(train), test=str(test), output=str(work), model="minilm", seed=seed,
                            threads=threads, show_progress=False, **options)
    total = time.perf_counter() - started
    manifest = summary.manifest
    return {"accuracy": manifest.metrics["test"]["accuracy"], "train_seconds": manifest.timings["train_seconds"],
            "total_seconds": round(total, 2), "pairs": manifest.few_shot.get("pairs"),
            "steps": manifest.timings["steps"]}


def run_setfit(model_path: Path, train: list[tuple[str, str]], test: list[tuple[str, str]], seed: int,
               work: Path) -> dict[str, Any]:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    started = time.perf_counter()
    model = SetFitModel.from_pretrained(str(model_path))
    args = TrainingArguments(output_dir=str(work), save_strategy="no", batch_size=BATCH, num_iterations=ITERATIONS,
                             num_epochs=1, body_learning_rate=BODY_LR, seed=seed, report_to="none",
                             show_progress_bar=False)
    dataset = Dataset.from_dict({"text": [t for t, _ in train], "label": [label for _, label in train]})
    trainer = Trainer(model=model, args=args, train_dataset=dataset)
    fit_started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - fit_started
    predicted = list(model.predict([t for t, _ in test], batch_size=64, show_progress_bar=False))
    accuracy = sum(str(p) == gold for p, (_, gold) in zip(predicted, test)) / len(test)
    return {"accuracy": accuracy, "train_seconds": round(train_seconds, 2),
            "total_seconds": round(time.perf_counter() - started, 2)}


def setfit_status() -> str | None:
    """None when setfit imports; else why it cannot run."""
    try:
        import setfit  # noqa: F401
    except ImportError as exc:
        return f"setfit is not installed ({exc}); pip install 'tunelab[setfit]' (pulls no other torch) to compare"
    return None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    accuracies = [r["accuracy"] for r in runs]
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    return {"mean": round(statistics.fmean(accuracies), 4), "std": round(spread, 4), "runs": len(runs),
            "train_seconds": round(statistics.fmean(r["train_seconds"] for r in runs), 1),
            "total_seconds": round(statistics.fmean(r["total_seconds"] for r in runs), 1)}


def earlier_runs(path: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(size, library, seed) -> run, from an earlier results file of the same mode (for --resume)."""
    if not path.is_file():
        return {}
    payload = json.loads(path.read_text())
    out = {}
    for n, by_library in payload["results"].items():
        for name, entry in by_library.items():
            for position, run in enumerate(entry["runs"]):
                seed = int(run.get("seed", payload["seeds"][position]))  # files before --resume kept seed order
                out[(n, name, seed)] = {"finished": payload["finished"], **run, "seed": seed}
    return out


def measure(sizes: tuple[int, ...], seeds: tuple[int, ...], test_rows: list[tuple[str, str]], work: Path,
            threads: int, with_setfit: bool, earlier: dict[tuple[str, str, int], dict[str, Any]],
            with_loop: bool = False) -> dict[str, Any]:
    from tunelab.models.resolve import resolve_model_path

    model_path = resolve_model_path("minilm")  # the bundled folder; nothing downloads
    train_rows = read_rows(DATA / "sent_train.csv")
    test_path = bench_train.write_rows(work / "test.csv", test_rows)
    results: dict[str, Any] = {}
    for n in sizes:
        runs: dict[str, list[dict[str, Any]]] = {"tunelab": [], "setfit": [], "tunelab-loop": []}
        for seed in seeds:
            train = sample(train_rows, n, seed)
            train_path = bench_train.write_rows(work / f"train-{n}-{seed}.csv", train)
            jobs = {"tunelab": partial(run_tunelab, train_path, test_path, work / f"tunelab-{n}-{seed}", seed, threads,
                                         RECIPE)}
            if with_setfit:
                jobs["setfit"] = partial(run_setfit, model_path, train, test_rows, seed, work / f"setfit-{n}-{seed}")
            if with_loop:
                jobs["tunelab-loop"] = partial(run_tunelab, train_path, test_path, work / f"loop-{n}-{seed}", seed,
                                               threads, LOOP)
            for name, job in jobs.items():
                kept = earlier.get((str(n), name, seed))
                run = kept or {**job(), "seed": seed, "finished": datetime.now(UTC).isoformat(timespec="seconds")}
                runs[name].append(run)
                log(f"{n}/class seed {seed} {name} {'(earlier run) ' if kept else ''}{run}")
        results[str(n)] = {name: {"summary": summarise(r), "runs": r} for name, r in runs.items() if r}
    return results


def render(payload: dict[str, Any]) -> str:
    machine, mode = payload["machine"], payload["mode"]
    lines = [f"## Few-shot: TuneLab against SetFit ({mode} mode)", "",
             f"Command: `.venv/bin/python benchmarks/bench_fewshot.py{' --quick' if mode.startswith('quick') else ''} "
             f"--threads {payload['threads']}{payload.get('flags', '')}`, {payload['finished']}. "
             f"Machine: {machine['cpu_model']}, "
             f"{machine['cpus']} CPUs, {payload['threads']} thread(s), CPU flags: {machine['cpu_flags']}. "
             f"MiniLM (bundled all-MiniLM-L6-v2), Twitter financial news sentiment (3 classes), seeds "
             f"{', '.join(map(str, payload['seeds']))}, test: {payload['test_examples']} tweets of sent_valid. Both: "
             f"{ITERATIONS} pair rounds, batch {BATCH}, body lr {BODY_LR:g}, fp32, logistic-regression head.", "",
             "| examples per class | library | test accuracy (mean ± std) | runs | train s / run | total s / run |",
             "|---|---|---|---|---|---|"]
    for n, by_library in payload["results"].items():
        for name, entry in by_library.items():
            s = entry["summary"]
            lines.append(f"| {n} | {name} | {s['mean']:.4f} ± {s['std']:.4f} | {s['runs']} | "
                         f"{s['train_seconds']} | {s['total_seconds']} |")
    dates = sorted({run["finished"][:16] for by_library in payload["results"].values()
                    for entry in by_library.values() for run in entry["runs"] if "finished" in run})
    if len(dates) > 1 and "--resume" in payload.get("flags", ""):
        lines.append(f"\nRuns kept from earlier invocations (`--resume`) finished at different times: "
                     f"{', '.join(dates)} (UTC); the TuneLab code may differ between them, the recipe did not.")
    lines.append(f"\nThe training samples are balanced; the test set is not: its largest class (neutral) is "
                 f"{payload['majority_share']:.1%} of it, the accuracy of always answering that class.")
    if payload["setfit_note"]:
        lines.append(f"\nSetFit not measured: {payload['setfit_note']}.")
    if any("tunelab-loop" in by_library for by_library in payload["results"].values()):
        lines.append("\ntunelab-loop: TuneLab's fine-tuning loop on the same examples with every default (its own "
                     "dev split, epochs, bf16 where the CPU has it, loss), the choice the few-shot switch makes "
                     "against; the pair-round settings above are the recipe's, not the loop's.")
    lines.append("\nBoth pool the normalised mean of the token states; TuneLab writes its fitted head into the "
                 "classifier layer of a standard sequence classifier (safetensors), SetFit keeps a pickled "
                 "scikit-learn head. Published anchor (other data): SetFit with MiniLM-L6 at 8 per class, 83.1 on "
                 "AG News, 71.6 on CR.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 examples per class, 2 seeds, 1,000 test tweets")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: 5, quick 2)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for both sides")
    parser.add_argument("--no-setfit", action="store_true", help="TuneLab alone")
    parser.add_argument("--sizes", default=None,
                        help="examples per class, comma-separated (default: 8,64; quick 8); other sizes than the "
                             "default get their own results file and RESULTS.md section")
    parser.add_argument("--loop", action="store_true",
                        help="also TuneLab's fine-tuning loop on the same examples, all defaults (tunelab-loop)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs (same size, library and seed) of this mode's earlier results file and "
                             "run only the missing seeds")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/data/twitter_financial_news_sentiment")
    import torch

    torch.set_num_threads(args.threads)
    default_sizes = (8,) if args.quick else (8, 64)
    sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else default_sizes
    mode = ("quick" if args.quick else "full") + ("" if sizes == default_sizes else "-" + "-".join(map(str, sizes)))
    seeds = tuple(range(args.seeds if args.seeds is not None else (2 if args.quick else 5)))
    test_rows = read_rows(DATA / "sent_valid.csv")
    if args.quick:
        test_rows = random.Random(0).sample(test_rows, 1000)
    note = "turned off (--no-setfit)" if args.no_setfit else setfit_status()
    work = BENCH / "work" / f"fewshot-{mode}-{int(time.time())}"
    work.mkdir(parents=True)
    from tunelab.training.precision import cpu_flags

    machine = bench_train.machine_info()
    machine["cpu_flags"] = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx")))) or "none"
    suffix = "" if mode == "full" else f"-{mode}"
    results_path = BENCH / "results" / f"fewshot{suffix}.json"
    earlier = earlier_runs(results_path) if args.resume else {}
    results = measure(sizes, seeds, test_rows, work, args.threads, with_setfit=note is None, earlier=earlier,
                      with_loop=args.loop)
    majority = max(Counter(label for _, label in test_rows).values()) / len(test_rows)
    flags = (f" --sizes {args.sizes}" if args.sizes else "") + (f" --seeds {args.seeds}" if args.seeds else "") + (
        " --resume" if args.resume else "") + (" --loop" if args.loop else "") + (
        " --no-setfit" if args.no_setfit else "")
    payload = {"mode": mode, "flags": flags, "machine": machine,
               "threads": args.threads, "seeds": list(seeds),
               "test_examples": len(test_rows), "majority_share": round(majority, 4), "setfit_note": note,
               "results": results, "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    bench_train.write_json_atomic(results_path, payload)
    section = render(payload)
    bench_train.update_results_md(BENCH / "RESULTS.md", mode, section, bench="bench-fewshot")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
