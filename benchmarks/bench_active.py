#!/usr/bin/env python
"""Active-learning benchmark: a simulated annotator on Banking77 or the Twitter financial news sentiment set,
uncertainty+diversity against random sampling.

Start from 10 labelled questions per class; each round the strategy picks a batch from the unlabelled rest of the
training split, the annotator reveals their gold labels, the model is retrained and scored on the test split.

    uncertainty+diversity  TuneLab's `loop suggest` ranking: margin uncertainty, k-means on the embeddings of
                           the 2 x batch most uncertain texts, the most uncertain text per cluster round-robin
                           (tunelab.loop.suggest.rank_features)
    uncertainty            the most uncertain texts only (margin), no diversity
    random                 a uniform sample of the unlabelled rest

Modes:
    --quick  a frozen encoder: the bundled all-MiniLM-L6-v2 embeds every question once (mean pooling, unit length;
             cached under benchmarks/work/active/), then a logistic-regression head is fitted per round. Minutes.
    full     fine-tunes the bundled MiniLM with `tunelab.train` every round (hours on a CPU).

    make bench-active   # = .venv/bin/python benchmarks/bench_active.py --quick
    .venv/bin/python benchmarks/bench_active.py --quick --dataset twitter --batch 150 --rounds 20
    .venv/bin/python benchmarks/bench_active.py   # full mode

Target (issue 20): the full-data accuracy minus one point with at most half of random's labels. The full-data
accuracy is the head on every label (quick) or TuneLab's defaults fine-tuned on every label, averaged over the run's
seeds (full; each seed's run is cached like the curves).

Results: benchmarks/results/active-{quick,full}[-twitter].json and .png, and a section of RESULTS.md each.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (machine info, atomic writers, RESULTS.md sections)

SHARED = ROOT.parent / "shared" / "data"
# name: (folder, train file, test file, label column, title); text is always the `text` column
DATASETS = {"banking77": ("banking77", "train.csv", "test.csv", "category", "Banking77"),
            "twitter": ("twitter_financial_news_sentiment", "sent_train.csv", "sent_valid.csv", "label",
                        "Twitter financial news sentiment")}
DATA = SHARED / "banking77"  # the dataset `--dataset` chose (main sets it)
TRAIN_FILE, TEST_FILE, LABEL = "train.csv", "test.csv", "category"
STRATEGIES = ("uncertainty+diversity", "uncertainty", "random")
START_PER_CLASS = 10


def log(message: str) -> None:
    print(f"[bench-active {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def use_dataset(name: str) -> str:
    """Point the readers at dataset `name`; returns its title."""
    global DATA, TRAIN_FILE, TEST_FILE, LABEL
    folder, TRAIN_FILE, TEST_FILE, LABEL, title = DATASETS[name]
    DATA = SHARED / folder
    return title


def read_split(name: str) -> tuple[list[str], list[str]]:
    with open(DATA / (TRAIN_FILE if name == "train" else TEST_FILE), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r[LABEL] for r in rows]


# ---- quick mode: frozen encoder + logistic regression ------------------------------------------------------------


def embed(texts: list[str], cache: Path, batch_size: int = 64) -> np.ndarray:
    """Mean-pooled, unit-length all-MiniLM-L6-v2 embeddings (how sentence-transformers pools this model)."""
    key = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    path = cache / f"minilm-{key}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tunelab.models.resolve import resolve_model_path

    folder = resolve_model_path("minilm")
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=64,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    result = np.concatenate(out).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, result)
    return result


def fit_head(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=10.0, max_iter=300, random_state=seed).fit(x, y)


def choose(strategy: str, head: Any, x: np.ndarray, pool: np.ndarray, batch: int, n_classes: int,
           rng: np.random.Generator, seed: int, candidates: float | None = None) -> np.ndarray:
    """`batch` indices of `pool` (indices into x) to reveal next."""
    from tunelab.loop.embeddings import TextFeatures
    from tunelab.loop.suggest import rank_features, uncertainty

    if strategy == "random":
        return rng.choice(pool, size=min(batch, len(pool)), replace=False)
    proba = np.zeros((len(pool), n_classes), dtype=np.float32)
    proba[:, head.classes_] = head.predict_proba(x[pool])
    if strategy == "uncertainty":
        return pool[np.argsort(-uncertainty(proba), kind="stable")[:batch]]
    ones = np.ones(len(pool), dtype=np.int64)
    features = TextFeatures(x[pool], proba, ones, ones * 0)
    chosen, _scores, _clusters = rank_features(features, batch, seed=seed, candidates=candidates)
    return pool[np.array(chosen)]


def start_set(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picks = [rng.choice(np.flatnonzero(y == c), size=START_PER_CLASS, replace=False) for c in np.unique(y)]
    return np.concatenate(picks)


def run_quick_curve(strategy: str, seed: int, data: dict[str, Any], rounds: int, batch: int,
                    candidates: float | None = None) -> list[dict[str, Any]]:
    x, y, xt, yt = data["x"], data["y"], data["x_test"], data["y_test"]
    rng = np.random.default_rng(seed)
    labelled = start_set(y, rng)
    curve = []
    for step in range(rounds + 1):
        started = time.perf_counter()
        head = fit_head(x[labelled], y[labelled], seed)
        accuracy = float((head.predict(xt) == yt).mean())
        curve.append({"round": step, "labels": int(len(labelled)), "accuracy": round(accuracy, 4)})
        if step < rounds:
            pool = np.setdiff1d(np.arange(len(y)), labelled)
            labelled = np.concatenate([labelled, choose(strategy, head, x, pool, batch, data["classes"], rng,
                                                        seed, candidates)])
        log(f"{strategy:<22} seed {seed} round {step}: {curve[-1]['labels']} labels, accuracy {accuracy:.4f} "
            f"({time.perf_counter() - started:.1f} s)")
    return curve


def quick_data(work: Path) -> dict[str, Any]:
    texts, labels = read_split("train")
    test_texts, test_labels = read_split("test")
    names = sorted(set(labels))
    index = {n: i for i, n in enumerate(names)}
    started = time.perf_counter()
    x, x_test = embed(texts, work), embed(test_texts, work)
    log(f"embeddings ready ({len(texts)} train, {len(test_texts)} test) in {time.perf_counter() - started:.0f} s")
    return {"x": x, "y": np.array([index[n] for n in labels]), "x_test": x_test,
            "y_test": np.array([index[n] for n in test_labels]), "classes": len(names)}


# ---- full mode: fine-tune per round ------------------------------------------------------------------------------


def run_full_curve(strategy: str, seed: int, rounds: int, batch: int, work: Path, *, target: float | None = None,
                   done: list[dict[str, Any]] | None = None, model: str = "minilm",
                   on_point: Callable[[list[dict[str, Any]]], None] | None = None,
                   **train_options: Any) -> list[dict[str, Any]]:
    """Fine-tune `model` (the bundled MiniLM) with TuneLab's defaults on the labelled set every round; pick with the
    fine-tuned model's own embeddings and probabilities (`tunelab.loop.suggest.suggest`).

    `done`: the points of an earlier, shorter run of this curve; they are replayed, not retrained (a model's picks
    are kept with the point they led to, random's are drawn again from the same generator). `target`: the curve
    stops at the first round that reaches it (later rounds cannot change how many labels it needed). `on_point`:
    called with the curve so far after every newly trained round (so an interrupted run keeps its rounds)."""
    from tunelab.inference.predictor import Predictor
    from tunelab.loop.suggest import suggest

    texts, labels = read_split("train")
    rng = np.random.default_rng(seed)
    y = np.array(labels)
    labelled: np.ndarray | None = start_set(y, rng)
    done, added = done or [], None
    curve: list[dict[str, Any]] = []
    for step in range(rounds + 1):
        folder = work / f"full-{DATA.name}-{strategy.replace('+', '-')}-s{seed}-r{step}"
        if step < len(done):
            point = done[step]
            if labelled is not None and point["labels"] != len(labelled):
                raise SystemExit(f"the cached {strategy} curve (seed {seed}) does not replay at round {step}: "
                                 f"delete {work / 'full-curves'} and rerun")
            log(f"{strategy} seed {seed} round {step}: {point['labels']} labels, accuracy {point['accuracy']:.4f} "
                "(cached)")
        else:
            if labelled is None:
                raise SystemExit(f"the cached {strategy} curve (seed {seed}) kept no picks to extend it from: "
                                 f"delete {work / 'full-curves'} and rerun")
            accuracy = train_round(folder, [(texts[i], labels[i]) for i in labelled], seed, model, train_options)
            point = {"round": step, "labels": int(len(labelled)), "accuracy": round(accuracy, 4)}
            if added is not None:
                point["added"] = added
            log(f"{strategy} seed {seed} round {step}: {point['labels']} labels, accuracy {accuracy:.4f}")
        curve.append(point)
        if step >= len(done) and on_point is not None:
            on_point(curve)
        if step == rounds or (target is not None and point["accuracy"] >= target):
            break
        if labelled is None or (strategy != "random" and step + 1 < len(done) and "added" not in done[step + 1]):
            labelled = None  # an older cache without picks: it replays, but cannot be extended
            continue
        pool = np.setdiff1d(np.arange(len(y)), labelled)
        if strategy == "random":  # drawn even when the next round is cached: the generator replays
            picked = rng.choice(pool, size=min(batch, len(pool)), replace=False)
        elif step + 1 < len(done):
            picked = np.array(done[step + 1]["added"], dtype=np.int64)
        else:
            if not (folder / "run").is_dir():
                raise SystemExit(f"{folder / 'run'} (round {step}'s model, which picks round {step + 1}) is gone: "
                                 f"delete {work / 'full-curves'} and rerun")
            position = {texts[i]: i for i in pool}
            chosen = suggest(Predictor.load(folder / "run"), [texts[i] for i in pool], batch, seed=seed)
            picked = np.array([position[s.text] for s in chosen])
            added = [int(i) for i in picked]
        labelled = np.concatenate([labelled, picked])
    return curve


def train_round(folder: Path, rows: list[tuple[str, str]], seed: int, model: str,
                train_options: dict[str, Any]) -> float:
    """Fine-tune on `rows` (text, label) into `folder`/run; the test accuracy."""
    import tunelab
    from tunelab.data.spreadsheet import safe_row

    shutil.rmtree(folder, ignore_errors=True)  # an interrupted earlier attempt
    folder.mkdir(parents=True)
    with open(folder / "train.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", LABEL])
        writer.writerows(safe_row(list(row)) for row in rows)
    summary = tunelab.train(data=str(folder / "train.csv"), test=str(DATA / TEST_FILE), output=str(folder / "run"),
                            label_column=LABEL, seed=seed, show_progress=False, model=model, **train_options)
    return float(summary.manifest.metrics["test"]["accuracy"])


def cached_full_curve(strategy: str, seed: int, rounds: int, batch: int, work: Path,
                      target: float | None) -> list[dict[str, Any]]:
    """`run_full_curve`, kept in `work` by data set, strategy, seed and batch: an interrupted run, one with more
    seeds or one with more rounds trains only what is missing."""
    def cache(name: str) -> Path:
        return work / "full-curves" / f"{DATA.name}-{name.replace('+', '-')}-s{seed}-b{batch}.json"

    def save(curve: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        bench_train.write_json_atomic(path, curve)

    path = cache(strategy)
    done = list(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else []
    if done:
        log(f"{strategy} seed {seed}: {len(done)} rounds cached in {path.name}")
    elif strategy == "random":
        # Round 0 is the same start set for every strategy (start_set with this seed's generator), trained the same
        # way: random takes another strategy's round 0 rather than training it again. Its own picks do not depend
        # on a model, so the point needs no run folder (and round 0 carries no picks).
        other = next((cache(s) for s in STRATEGIES if s != strategy and cache(s).is_file()), None)
        if other is not None:
            done = json.loads(other.read_text(encoding="utf-8"))[:1]
            log(f"random seed {seed}: round 0 ({done[0]['labels']} labels) taken from {other.name}")
    return run_full_curve(strategy, seed, rounds, batch, work, target=target, done=done, on_point=save)


def full_data_accuracy(work: Path, seed: int) -> float:
    """Test accuracy of TuneLab's defaults fine-tuned on every training label with `seed`: one seed's part of the
    target's reference, trained the way every round is (kept in `work`)."""
    import tunelab

    curves = work / "full-curves"
    path = curves / f"{DATA.name}-all-labels-s{seed}.json"
    legacy = curves / f"{DATA.name}-all-labels.json"  # seed 0's, written before the reference took every seed
    for known in (path, legacy) if seed == 0 else (path,):
        if known.is_file():
            return float(json.loads(known.read_text(encoding="utf-8"))["accuracy"])
    log(f"fine-tuning on every training label of {DATA.name}, seed {seed} (the reference)")
    output = work / f"full-{DATA.name}-all-s{seed}"
    shutil.rmtree(output, ignore_errors=True)  # an interrupted earlier attempt
    summary = tunelab.train(data=str(DATA / TRAIN_FILE), test=str(DATA / TEST_FILE), output=str(output),
                            label_column=LABEL, seed=seed, show_progress=False, model="minilm")
    accuracy = round(float(summary.manifest.metrics["test"]["accuracy"]), 4)
    curves.mkdir(parents=True, exist_ok=True)
    bench_train.write_json_atomic(path, {"accuracy": accuracy, "seed": seed, "run": str(output)})
    log(f"every training label, seed {seed}: accuracy {accuracy:.4f}")
    return accuracy


# ---- summary, plot, RESULTS.md -----------------------------------------------------------------------------------


def mean_curve(curves: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for points in zip(*curves):
        values = [p["accuracy"] for p in points]
        out.append({"labels": points[0]["labels"], "mean": round(statistics.fmean(values), 4),
                    "std": round(statistics.pstdev(values), 4)})
    return out


def labels_to_reach(curve: list[dict[str, Any]], target: float, key: str = "mean") -> int | None:
    return next((p["labels"] for p in curve if p[key] >= target), None)


def summarise(curves: dict[str, list[list[dict[str, Any]]]], full_accuracy: float | None, *,
              by_seed: bool = False) -> dict[str, Any]:
    """The mean curves and, given the full-data accuracy, the labels each strategy needed to come within a point of
    it. `by_seed` (full mode, whose curves stop at the target): the verdict compares the mean of each seed's own
    count, since the mean curve ends with its shortest seed; quick mode reads the mean curve."""
    means = {s: mean_curve(c) for s, c in curves.items()}
    summary: dict[str, Any] = {"curves": means}
    if full_accuracy is not None:
        target = round(full_accuracy - 0.01, 4)
        reach = {s: labels_to_reach(m, target) for s, m in means.items()}
        ours, random_ = reach.get("uncertainty+diversity"), reach.get("random")
        # random not there by its last point: it needs more labels than that, so twice ours within it is enough
        random_last = means["random"][-1]["labels"] if means.get("random") else 0
        met = ours is not None and (ours <= random_ / 2 if random_ is not None else 2 * ours <= random_last)
        # each seed's own count: a full-mode curve stops at the target, so the mean curve ends with its shortest seed
        per_seed = {s: [labels_to_reach(curve, target, "accuracy") for curve in seeds] for s, seeds in curves.items()}
        summary.update({"full_data_accuracy": full_accuracy, "target_accuracy": target, "labels_to_target": reach,
                        "labels_to_target_per_seed": per_seed,
                        "target_met": met, "target_met_by_bound": met and random_ is None})
        if by_seed:  # measurable only when every seed of both strategies reached the target
            ours_n, random_n = per_seed.get("uncertainty+diversity") or [None], per_seed.get("random") or [None]
            ratio = (round(statistics.fmean(ours_n) / statistics.fmean(random_n), 4)
                     if None not in ours_n + random_n else None)
            summary.update({"per_seed_ratio": ratio, "target_met": ratio is not None and ratio <= 0.5,
                            "target_met_by_bound": False})
    return summary


def plot(curves: dict[str, list[dict[str, Any]]], target: float | None, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy, curve in curves.items():
        x = [p["labels"] for p in curve]
        mean, std = np.array([p["mean"] for p in curve]), np.array([p["std"] for p in curve])
        ax.plot(x, mean, marker="o", markersize=3, label=strategy)
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="full data - 1 point")
    ax.set_xlabel("labels revealed")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render(result: dict[str, Any], command: str) -> str:
    s, m = result["summary"], result["machine"]
    lines = [f"## Active learning: {result['mode']} mode", "",
             f"Command: {command}, finished {result['finished']}; wall {result['wall_s']:.0f} s.",
             f"Machine: {m['cpu_model']}, {m['cpus']} CPUs (shared with other jobs), flags {m['cpu_flags']}; "
             f"torch {m['versions']['torch']}, transformers {m['versions']['transformers']}.", "",
             f"{result.get('dataset_title', 'Banking77')} (train {result['train_size']:,} as the unlabelled pool, test "
             f"{result['test_size']:,}); "
             f"start {START_PER_CLASS} labels per class ({result['start_labels']}), then {result['rounds']} rounds of "
             f"{result['batch']} labels; seeds {result['seeds']}; mean (± std over seeds).", ""]
    if result["mode"] == "quick":
        lines += ["Quick mode: the bundled all-MiniLM-L6-v2 is frozen (mean-pooled embeddings computed once) and a "
                  "logistic-regression head (C=10) is refitted per round. The full mode (fine-tuning the encoder every "
                  "round) is its own section; its numbers differ.", ""]
    strategies = list(s["curves"])
    lines += ["| labels | " + " | ".join(strategies) + " |", "|---|" + "---|" * len(strategies)]
    at = {k: {p["labels"]: p for p in s["curves"][k]} for k in strategies}
    for count in sorted({n for points in at.values() for n in points}):
        cells = [f"{at[k][count]['mean']:.4f} ± {at[k][count]['std']:.4f}" if count in at[k] else "–"
                 for k in strategies]
        lines.append(f"| {count:,} | " + " | ".join(cells) + " |")
    if "full_data_accuracy" in s:
        reach = ", ".join(f"{k}: {v if v is not None else 'not within ' + str(s['curves'][k][-1]['labels'])}"
                          for k, v in s["labels_to_target"].items())
        reference = "Head" if result["mode"] == "quick" else "TuneLab's defaults fine-tuned"
        reading = ("Labels needed to reach it (mean curve): " + reach + "." if "per_seed_ratio" not in s else
                   "Labels needed to reach it: per seed below (the mean curve ends with its shortest seed).")
        verdict = "met" if s["target_met"] else "not met or not measurable within the budget"
        if s.get("per_seed_ratio") is not None:
            verdict = (f"{'met' if s['target_met'] else 'not met'}: {s['per_seed_ratio']:.0%} "
                       "(the mean of the seeds' counts)")
        per_seed_reference = result.get("reference_per_seed") or []
        spread = (f" (the mean of seeds {result['seeds'][0]}-{result['seeds'][-1]}: "
                  + ", ".join(f"{a:.4f}" for a in per_seed_reference)
                  + f"; std {statistics.pstdev(per_seed_reference):.4f})" if len(per_seed_reference) > 1 else "")
        lines += ["", f"{reference} on all {result['train_size']:,} labels: accuracy {s['full_data_accuracy']:.4f}"
                  f"{spread}; target {s['target_accuracy']:.4f} (full data - 1 point). {reading}",
                  f"Issue 20's target (uncertainty+diversity reaches it with at most half the labels random needs): "
                  f"**{verdict}**"
                  + (" (random had not reached the target by its last point, which is at least twice "
                     "uncertainty+diversity's count)." if s.get("target_met_by_bound") else ".")]
    per_seed = s.get("labels_to_target_per_seed") or {}
    if len(result["seeds"]) > 1 and {"uncertainty+diversity", "random"} <= set(per_seed):
        cells = []
        for seed, ours, theirs in zip(result["seeds"], per_seed["uncertainty+diversity"], per_seed["random"],
                                      strict=True):
            ratio = f" ({ours / theirs:.0%})" if ours and theirs else ""
            cells.append(f"seed {seed}: {f'{ours:,}' if ours else 'not reached'} / "
                         f"{f'{theirs:,}' if theirs else 'not reached'}{ratio}")
        lines += ["", "Labels needed per seed (uncertainty+diversity / random): " + "; ".join(cells) + "."]
    lines += notes(result)
    lines += ["", f"Plot: `benchmarks/results/{result['plot']}`."]
    return "\n".join(lines)


def notes(result: dict[str, Any]) -> list[str]:
    """What the numbers do not say by themselves."""
    s = result["summary"]
    reach = s.get("labels_to_target") or {}
    out = ["", f"Label counts move in steps of {result['batch']} labels (one round)."]
    if result["mode"] == "full":
        out.append("In full mode a curve stops at the first round that reaches the target ('–' after it: later "
                   "rounds cannot change its label count); the mean over seeds runs as far as every seed's curve.")
    ours, plain, random_ = reach.get("uncertainty+diversity"), reach.get("uncertainty"), reach.get("random")
    if ours is not None and random_ is not None and "per_seed_ratio" not in s:
        at = next(p["mean"] for p in s["curves"]["random"] if p["labels"] == random_)
        out.append(f"uncertainty+diversity needed {ours / random_:.0%} of random's labels; random's mean curve first "
                   f"reached {at:.4f} against the {s['target_accuracy']:.4f} target, so one round either way would "
                   "move this ratio a lot.")
    if ours is not None and plain is not None and plain < ours:
        out.append(f"Plain uncertainty sampling reached the target with fewer labels ({plain:,}) than "
                   f"uncertainty+diversity ({ours:,}): in this run the diversity step cost labels instead of saving "
                   "them (batches of this size spread well over the classes on uncertainty alone). `loop suggest` "
                   "keeps diversity for the review queue, where a small batch of near-copies is the failure it "
                   "prevents; this one frozen-encoder run is not evidence that it helps accuracy.")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="frozen encoder + logistic regression (minutes)")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--batch", type=int, default=385, help="labels per round (5 per class)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="banking77")
    parser.add_argument("--candidates", type=float, default=None,
                        help="quick mode: uncertainty+diversity draws from this many times the batch of the most "
                             "uncertain texts (default: `loop suggest`'s; 13 with --batch 770 clusters the whole pool, "
                             "the ranking before 2026-12-07); results go to their own files and section")
    args = parser.parse_args(argv)
    if args.candidates is not None and not args.quick:
        parser.error("--candidates is for --quick (the full mode's cached curves are kept by strategy, not by it)")
    title = use_dataset(args.dataset)
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/data/{DATA.name}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    work = BENCH / "work" / "active"
    seeds = list(range(args.seeds))
    full_accuracy, references = None, []
    if args.quick:
        data = quick_data(work)
        full_accuracy = round(float((fit_head(data["x"], data["y"], 0).predict(data["x_test"]) == data["y_test"])
                                    .mean()), 4)
        log(f"head on all training labels: accuracy {full_accuracy:.4f}")
        curves = {s: [run_quick_curve(s, seed, data, args.rounds, args.batch, args.candidates) for seed in seeds]
                  for s in STRATEGIES}
    else:
        # The target's reference is the mean over the curves' seeds: one seed's full-data run lay up to 0.24 points
        # from their mean (Banking77, seeds 0-4: 0.9331-0.9367), more than the margins that decide the verdict.
        references = [full_data_accuracy(work, seed) for seed in seeds]
        full_accuracy = round(statistics.fmean(references), 4)
        curves = {s: [] for s in ("uncertainty+diversity", "random")}
        for seed in seeds:  # seed by seed: a run cut short still has both strategies for its first seeds
            for strategy, done in curves.items():
                done.append(cached_full_curve(strategy, seed, args.rounds, args.batch, work,
                                             round(full_accuracy - 0.01, 4)))
    summary = summarise(curves, full_accuracy, by_seed=not args.quick)
    from tunelab.training.precision import cpu_flags

    machine = bench_train.machine_info()
    machine["cpu_flags"] = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx"))))
    suffix = ("" if args.dataset == "banking77" else f"-{args.dataset}") \
        + ("" if args.candidates is None else f"-candidates{args.candidates:g}")
    name = f"active-{mode}{suffix}"
    train_labels, test_labels = read_split("train")[1], read_split("test")[1]
    result = {"mode": mode, "dataset": args.dataset, "dataset_title": title, "machine": machine, "seeds": seeds,
              "rounds": args.rounds, "batch": args.batch,
              "start_labels": len(set(train_labels)) * START_PER_CLASS,
              "train_size": len(train_labels), "test_size": len(test_labels),
              "raw": curves, "summary": summary, "plot": f"{name}.png", "reference_per_seed": references,
              "wall_s": time.perf_counter() - started, "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    plot(summary["curves"], summary.get("target_accuracy"), BENCH / "results" / f"{name}.png",
         f"{title} active learning ({mode}: {'frozen MiniLM + LR' if args.quick else 'fine-tuned MiniLM'})")
    bench_train.write_json_atomic(BENCH / "results" / f"{name}.json", result)
    flags = " --quick" if args.quick else ""
    command = (f"`make bench-active` (ran as `.venv/bin/python benchmarks/bench_active.py{flags} "
               f"--rounds {args.rounds} --batch {args.batch} --seeds {args.seeds} --threads {args.threads}"
               + (f" --dataset {args.dataset}" if args.dataset != "banking77" else "")
               + (f" --candidates {args.candidates:g}" if args.candidates is not None else "") + "`)")
    section = render(result, command)
    bench_train.update_results_md(BENCH / "RESULTS.md", mode + suffix, section, bench="bench-active")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
