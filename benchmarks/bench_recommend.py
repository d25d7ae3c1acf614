"""Recommender benchmark on MovieLens ml-latest-small (temporal split): the evaluation table (hybrid, text tower and
every baseline), training throughput, index build time, p50/p99 latency of one recommend call at ~10k items and on a
synthetic large catalogue (faiss IVF), peak memory. `--quick` trains fewer steps and uses a 200k-item catalogue."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
DATA = BENCH.parents[1] / "shared" / "data" / "ml-latest-small"


def latencies(call, runs: int) -> dict[str, float]:
    times = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(float(np.percentile(times, 50)), 2), "p99_ms": round(float(np.percentile(times, 99)), 2)}


def build_options(quick: bool):
    from tunelab.apps.recommender.build import BuildOptions
    from tunelab.apps.recommender.dataset import DataOptions
    from tunelab.apps.recommender.rules import PositiveRule
    from tunelab.apps.recommender.train import TowerConfig

    # full: 600 steps of 64 (0.8 epoch) at ~60 samples/s on 2 cores, ~12 min with the history table's refreshes;
    # the whole benchmark, 1M-item catalogue included, fits in about 25 minutes
    tower = TowerConfig(max_steps=60 if quick else 600, batch_size=32 if quick else 64, lr=5e-5)
    return BuildOptions(data=DataOptions(positive=PositiveRule.parse("rating>=4")), tower=tower)


def build(output: Path, quick: bool) -> dict:
    from tunelab.apps.recommender.build import run_build
    from tunelab.apps.recommender.evaluation import format_table

    options = build_options(quick)
    summary = run_build(DATA / "ratings.csv", DATA / "movies.csv", output, options, tags=DATA / "tags.csv")
    print(format_table(summary.table))
    return {"evaluation": summary.table, "timings": summary.timings, "counts": summary.counts}


def rescore(output: Path, quick: bool) -> dict:
    """The finished build in `output` ranked and evaluated again with the current code and its saved item vectors
    (the same split, baselines and blender fit; nothing retrained): for a change to ranking or metrics only."""
    from tunelab.apps.recommender.build import rank_and_evaluate
    from tunelab.apps.recommender.dataset import load_dataset
    from tunelab.apps.recommender.evaluation import format_table
    from tunelab.apps.recommender.split import assign_parts
    from tunelab.apps.recommender.state import BuildState

    options = build_options(quick)
    steps = json.loads((output / "manifest.json").read_text())["counts"]["train_steps"]
    if steps != options.tower.max_steps:
        raise SystemExit(f"{output} holds a {steps}-step build; --rescore {'--quick ' if quick else ''}needs the "
                         f"{options.tower.max_steps}-step one")
    dataset = load_dataset(DATA / "ratings.csv", DATA / "movies.csv", options.data, DATA / "tags.csv")
    positives = dataset.interactions.positives()
    parts = assign_parts(positives, options.split)
    clock: dict[str, float] = {}
    vectors = BuildState.load(output).vectors
    _, table, choice = rank_and_evaluate(dataset, positives, parts, vectors, options, None, clock,
                                         lambda message: print(message, file=sys.stderr))
    print(format_table(table))
    return {"evaluation": table, "rescored": {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                              "blender": choice.chosen, "seconds": round(sum(clock.values()), 1)}}


def large_catalogue(recommender, size: int) -> dict:
    """A synthetic catalogue: the real item vectors jittered and renormalised, IVF index, blended ranking."""
    from tunelab.apps.recommender.engine import Profile, Signals
    from tunelab.apps.recommender.retrieval import ItemIndex

    rng = np.random.default_rng(0)
    base = recommender.signals.index.vectors
    vectors = base[rng.integers(0, len(base), size)] + rng.normal(0, 0.05, (size, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    index = ItemIndex.build(vectors, threshold=50_000)
    built = time.perf_counter() - started
    s = recommender.signals
    pick = rng.integers(0, len(base), size)
    signals = Signals(index, s.collab_items[pick], s.popularity[pick], s.freshness[pick], s.blender)
    started = time.perf_counter()
    signals.warm()  # as Recommender.load does: candidate pools and score moments before the first request
    warmed = time.perf_counter() - started
    users = list(recommender.user_row)
    allowed = np.ones(size, dtype=bool)

    def call(i: int) -> None:
        user = users[i % len(users)]
        history = recommender.history(user)[-5:]
        from tunelab.apps.recommender.towers import user_vector

        profile = Profile(user_vector(base, history, 0.8), recommender.state.collab_users[recommender.user_row[user]],
                          np.zeros(0, dtype=np.int64))
        signals.rank(profile, 10, allowed)

    return {"items": size, "index_build_seconds": round(built, 2), "warm_seconds": round(warmed, 2),
            **latencies(call, 300)}


def synthetic_latency(size: int, dim: int = 384, factors: int = 64, runs: int = 300) -> dict:
    """The serving cost of one recommend call on a synthetic catalogue of `size` items with no build: clustered
    unit text vectors, Zipf popularity, freshness, collaborative factors; the blender's ranking of the three
    candidate pools (text ANN, the precomputed popularity/freshness order, the collaborative ANN), 50 seen items
    excluded per call. Timed after the first call, which builds the pools."""
    from tunelab.apps.recommender.blend import Blender
    from tunelab.apps.recommender.engine import Profile, Signals
    from tunelab.apps.recommender.retrieval import ItemIndex

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), size)] + rng.normal(0, 0.6, (size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    index = ItemIndex.build(vectors, threshold=50_000)
    built = time.perf_counter() - started
    popularity = np.log1p(rng.zipf(1.5, size).clip(0, 10**6) - 1).astype(np.float32)
    freshness = -np.log1p(rng.exponential(200, size)).astype(np.float32)
    collab = (rng.normal(size=(size, factors)) * (popularity[:, None] > 0)).astype(np.float32)
    weights = np.array([1.0, 0.8, 0.4, 0.2, -0.3, 0.2])  # every signal counts (a fitted blender's order of size)
    signals = Signals(index, collab, popularity, freshness, Blender(weights, np.zeros(6), np.ones(6)))
    started = time.perf_counter()
    signals.rank(Profile(vectors[0], collab[0], np.arange(5)), 10, np.ones(size, dtype=bool))
    pools = time.perf_counter() - started

    def call(i: int) -> None:
        seen = rng.integers(0, size, 50)
        allowed = np.ones(size, dtype=bool)
        allowed[seen] = False
        history = seen[-5:]
        text = vectors[history].mean(0)
        signals.rank(Profile(text / np.linalg.norm(text), collab[history].mean(0), history), 10, allowed)

    return {"items": size, "index_build_seconds": round(built, 2), "first_call_seconds": round(pools, 2),
            **latencies(call, runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(BENCH / "runs" / "recommend"))
    parser.add_argument("--latency-only", type=int, metavar="ITEMS",
                        help="only time recommend calls on a synthetic catalogue of ITEMS items (no build)")
    parser.add_argument("--rescore", action="store_true",
                        help="rank the finished build in --output again with the current code (no training) and "
                             "replace the evaluation table and targets in the results file; timings stay as run")
    args = parser.parse_args()
    if args.latency_only:
        result = {"latency_synthetic": synthetic_latency(args.latency_only),
                  "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        print(json.dumps(result, indent=2))
        return
    from tunelab.apps.recommender.recommender import Recommender

    out = BENCH / "results" / ("recommend-quick.json" if args.quick else "recommend.json")
    if args.rescore:
        result = {**json.loads(out.read_text()), **rescore(Path(args.output), args.quick)}
    else:
        result = build(Path(args.output), args.quick)
        recommender = Recommender.load(args.output)
        users = list(recommender.user_row)
        result["latency_catalogue"] = {"items": len(recommender.item_ids), "search": "exact",
                                       **latencies(lambda i: recommender.for_user(users[i % len(users)], 10), 300)}
        result["latency_large"] = large_catalogue(recommender, 200_000 if args.quick else 1_000_000)
        result["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    hybrid = result["evaluation"]["hybrid"]
    best = max((v["ndcg"], k) for k, v in result["evaluation"].items() if k not in ("hybrid", "two-tower text"))
    popularity = result["evaluation"]["popularity"]
    result["targets"] = {"hybrid_ndcg_over_best_baseline": round(hybrid["ndcg"] / max(best[0], 1e-9), 3),
                         "best_baseline": best[1], "cold_recall_hybrid": hybrid["cold_recall"],
                         "cold_recall_popularity": popularity["cold_recall"],
                         "cold_pool_recall_hybrid": hybrid["cold_pool_recall"],
                         "cold_pool_recall_popularity": popularity["cold_pool_recall"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump({k: v for k, v in result.items() if k != "evaluation"}, sys.stdout, indent=2)
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
