"""Differentially private fine-tuning benchmark: test accuracy at ε in {1, 3, 8} against non-private training
(TuneLab's defaults: full fine-tuning, batch 32) with the same epochs, on the Twitter financial news sentiment set
or Banking77 (`--dataset banking77`; ../shared/data). The DP runs take DP's own defaults (training/defaults.py:
method, expected batch, lr) unless --method, --batch-size or --lr is given; the manifest records what they trained
with.

    .venv/bin/python benchmarks/bench_dp.py --quick     # 2,000 training tweets (seeded subset), 3 epochs
    .venv/bin/python benchmarks/bench_dp.py             # every training tweet (9,543)
    .venv/bin/python benchmarks/bench_dp.py --quick --threads 1   # on a shared machine
    .venv/bin/python benchmarks/bench_dp.py --quick --dataset banking77   # 2,000 of Banking77's questions

The valid file (Banking77: the test file) is split in half (seeded): dev for the non-private run's checkpoint
choice (DP keeps its last step) and test for everyone. Results: benchmarks/results/dp[-banking77][-quick].json, a
plot, and a RESULTS.md section."""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (machine info, atomic writers)

SHARED = BENCH.parents[1] / "shared" / "data"
# per data set: folder, training file, the file split into dev and test, its text and label columns, its name
DATASETS = {"twitter": ("twitter_financial_news_sentiment", "sent_train.csv", "sent_valid.csv", "text", "label",
                        "Twitter financial news sentiment"),
            "banking77": ("banking77", "train.csv", "test.csv", "text", "category", "Banking77")}
EPSILONS = (1.0, 3.0, 8.0)


def log(message: str) -> None:
    print(f"[bench-dp {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write(path: Path, data: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(data)
    return path


def splits(work: Path, quick: bool, dataset: str) -> dict[str, Path]:
    folder, train_file, valid_file, text, label, _name = DATASETS[dataset]
    rng = random.Random(0)
    train, valid = ([{"text": r[text], "label": r[label]} for r in rows(SHARED / folder / name)]
                    for name in (train_file, valid_file))
    rng.shuffle(train)
    rng.shuffle(valid)
    if quick:
        train = train[:2000]
    half = len(valid) // 2
    return {"train": write(work / "train.csv", train), "dev": write(work / "dev.csv", valid[:half]),
            "test": write(work / "test.csv", valid[half:])}


def run(name: str, data: dict[str, Path], work: Path, epochs: int, **extra: Any) -> dict[str, Any]:
    """One training run; `extra`: tunelab.train options (None: not given, the default applies)."""
    import tunelab

    out = work / name
    started = time.perf_counter()
    summary = tunelab.train(data=str(data["train"]), dev=str(data["dev"]), test=str(data["test"]), output=str(out),
                            model="minilm", epochs=epochs, seed=0, patience=0, show_progress=False, **extra)
    seconds = time.perf_counter() - started
    privacy = summary.manifest.privacy
    config = summary.run_dir / "config.yaml"
    import yaml

    train = yaml.safe_load(config.read_text(encoding="utf-8"))["train"]
    result = {"name": name, "test_accuracy": round(summary.manifest.metrics["test"]["accuracy"], 4),
              "seconds": round(seconds, 1), "epsilon_spent": privacy.get("epsilon"),
              "noise_multiplier": privacy.get("noise_multiplier"), "precision": summary.manifest.precision,
              "method": train["method"], "batch_size": train["batch_size"], "lr": train["lr"],
              "steps": summary.manifest.timings.get("steps"), "dp_defaults": privacy.get("defaults")}
    log(str(result))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 training examples (seeded subset)")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="twitter")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--method", default=None, help="the DP runs' method (default: DP's default); the "
                        "non-private run fine-tunes fully unless this is given")
    parser.add_argument("--batch-size", type=int, default=None, help="the DP runs' expected batch (default: DP's)")
    parser.add_argument("--lr", type=float, default=None, help="the DP runs' learning rate (default: DP's)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per run (default: all cores)")
    args = parser.parse_args(argv)
    folder, *_rest, title = DATASETS[args.dataset]
    if not (SHARED / folder).is_dir():
        raise SystemExit(f"{SHARED / folder} is absent: this benchmark needs ../shared/data/{folder}")
    mode = "quick" if args.quick else "full"
    work = BENCH / "work" / f"dp-{args.dataset}-{mode}-{int(time.time())}"
    work.mkdir(parents=True)
    data = splits(work, args.quick, args.dataset)
    from tunelab.training.precision import cpu_flags

    machine = bench_train.machine_info()
    machine["cpu_flags"] = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx"))))
    common = {"threads": args.threads}
    results = [run("non-private", data, work, args.epochs, method=args.method or "full", batch_size=32,
                   precision="fp32", **common)]
    results += [run(f"dp-eps{eps:g}", data, work, args.epochs, privacy="dp", epsilon=eps, method=args.method,
                    batch_size=args.batch_size, lr=args.lr, **common) for eps in EPSILONS]
    base = results[0]["test_accuracy"]
    gap8 = round(base - results[-1]["test_accuracy"], 4)
    payload = {"mode": mode, "machine": machine, "epochs": args.epochs, "results": results, "gap_at_eps8": gap8,
               "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    suffix = ("" if args.dataset == "twitter" else f"-{args.dataset}") + ("-quick" if args.quick else "")
    bench_train.write_json_atomic(BENCH / "results" / f"dp{suffix}.json", payload)
    plot(results, BENCH / "results" / f"dp{suffix}.png")
    named = args.dataset if args.dataset != "twitter" else None
    options = (("dataset", named), ("method", args.method), ("batch_size", args.batch_size), ("lr", args.lr),
               ("threads", args.threads))
    given = [f"--{k.replace('_', '-')} {v}" for k, v in options if v]
    flags = (" --quick" if args.quick else "") + "".join(f" {g}" for g in given)
    command = f"`.venv/bin/python benchmarks/bench_dp.py{flags}`"
    lines = [f"## Differential privacy: accuracy against ε ({title}, {mode} mode)", "",
             f"Command: {command}, {payload['finished']}. Machine: {machine['cpu_model']}, {machine['cpus']} CPUs, "
             f"CPU flags: {machine['cpu_flags']}. MiniLM, {args.epochs} epochs, {title}"
             + (" (2,000 training examples)" if args.quick else "")
             + f"; test: half of the {DATASETS[args.dataset][2]} file (seeded). "
             "DP runs: Poisson sampling at the expected batch below; the settings named under 'DP defaults' came "
             "from TuneLab's DP defaults.", "",
             "| run | method | batch | lr | steps | test accuracy | ε spent | noise multiplier | DP defaults "
             "| seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['method']} | {r['batch_size']} | {r['lr']:g} | {r['steps']} | "
                     f"{r['test_accuracy']:.4f} | {r['epsilon_spent'] or '-'} | {r['noise_multiplier'] or '-'} | "
                     f"{', '.join(r['dp_defaults'] or []) or '-'} | {r['seconds']} |")
    met = "met" if gap8 <= 0.05 else "**missed**"
    lines.append(f"\nTarget: within 5 points of non-private at ε = 8: {met} (gap {gap8 * 100:.1f} points).")
    section = "\n".join(lines)
    bench = "bench-dp" if args.dataset == "twitter" else f"bench-dp-{args.dataset}"
    bench_train.update_results_md(BENCH / "RESULTS.md", mode, section, bench=bench)
    print(section)
    return 0


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    private = [r for r in results if r["epsilon_spent"]]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["epsilon_spent"] for r in private], [r["test_accuracy"] for r in private], "o-", label="DP-SGD")
    ax.axhline(results[0]["test_accuracy"], color="grey", linestyle="--", label="non-private")
    ax.set_xlabel("ε spent")
    ax.set_ylabel("test accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
