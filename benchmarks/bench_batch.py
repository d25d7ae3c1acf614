"""Batch scoring benchmark: `tunelab predict RUN -i FILE -o OUT` (chunked, streamed) against the in-memory path
(read every text, one `Predictor.predict` call, write) on the same file and model, side by side in one run.

Each side runs in its own subprocess so its peak resident memory is its own; the file sizes grow tenfold so a flat
memory line shows. Texts are short support questions (the bundled demo's, with numbered variations). The model is
MiniLM fine-tuned for a few steps on the demo data: accuracy is beside the point, the forward passes are the
same as a trained model's.

    .venv/bin/python benchmarks/bench_batch.py [--quick]      # quick: 10k and 100k texts; full: 100k and 1M
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (machine info, atomic writers)

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, run, source, out, chunk = sys.argv[1:6]
started = time.perf_counter()
if mode == "stream":
    from tunelab.recipes.score import score_file
    score_file(run, source, out, chunk_rows=int(chunk), show_progress=False)
else:
    import csv
    from tunelab.inference import Predictor
    from tunelab.inference.serialize import prediction_to_dict
    with open(source, encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    predictions = Predictor.load(run).predict(texts)
    with open(out, "w", encoding="utf-8") as handle:
        for text, p in zip(texts, predictions):
            handle.write(json.dumps({"text": text, **prediction_to_dict(p)}, ensure_ascii=False) + "\n")
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def log(message: str) -> None:
    print(f"[bench-batch {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def model_run(work: Path) -> Path:
    import tunelab

    run = work / "minilm-demo"
    if not (run / "manifest.json").is_file():
        data = Path(tunelab.__file__).parent / "demo_data" / "support_train.csv"
        tunelab.train(data=str(data), output=str(run), model="minilm", max_steps=20, seed=0, show_progress=False)
    return run


def texts_file(work: Path, rows: int) -> Path:
    path = work / f"texts-{rows}.csv"
    if path.is_file():
        return path
    import tunelab

    seeds = (Path(tunelab.__file__).parent / "demo_data" / "sample_questions.txt").read_text(
        encoding="utf-8").split("\n")
    seeds = [s.strip() for s in seeds if s.strip()]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([f"{seeds[i % len(seeds)]} (order {i})"] for i in range(rows))
    return path


def measure(mode: str, run: Path, source: Path, out: Path, chunk_rows: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(run), str(source), str(out), str(chunk_rows)],
                          capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    rows = sum(1 for _ in open(out, encoding="utf-8")) - (1 if out.suffix == ".csv" else 0)
    return {"mode": mode, "rows": rows, "seconds": round(found["seconds"], 1),
            "texts_per_s": round(rows / found["seconds"], 1), "peak_rss_mb": round(found["peak_rss_mb"], 1)}


def render(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = [f"## Batch scoring benchmark: {result['mode']} mode", "",
             f"Command: {command}, {result['finished']}. Machine: {m['cpu_model']}, {m['cpus']} CPUs, CPU flags: "
             f"{m['cpu_flags']}; torch {m['versions']['torch']}. Model: MiniLM (6 x 384), short support questions; "
             f"streamed in chunks of {result['chunk_rows']:,} texts.",
             "", "| texts | path | seconds | texts/s | peak RSS MB |", "|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {r['rows']:,} | {r['mode']} | {r['seconds']} | {r['texts_per_s']} | {r['peak_rss_mb']} |")
    for size, ratio in result["ratios"].items():
        lines.append(f"\n{size} texts: streamed/in-memory throughput {ratio['throughput']:.2f}x, "
                     f"peak memory {ratio['memory']:.2f}x.")
    lines.append(f"\nStreamed peak memory from the smaller to the larger file: "
                 f"{result['stream_memory_growth']:.2f}x for {result['size_growth']}x the texts.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k texts (full: 100k and 1M)")
    parser.add_argument("--sizes", help="two comma-separated file sizes instead (e.g. 5000,50000)")
    parser.add_argument("--chunk-rows", type=int, default=10_000, help="the streamed side's chunk size")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    sizes = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    if args.sizes:
        small, large = (int(x) for x in args.sizes.split(","))
        sizes, mode = (small, large), f"sizes-{small}-{large}"
    work = BENCH / "work" / "batch"
    work.mkdir(parents=True, exist_ok=True)
    from tunelab.training.precision import cpu_flags

    machine = bench_train.machine_info()
    machine["cpu_flags"] = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx"))))
    run = model_run(work)
    runs, ratios = [], {}
    for size in sizes:
        source = texts_file(work, size)
        pair = {}
        for side in ("stream", "memory"):
            log(f"{side}: {size} texts")
            pair[side] = measure(side, run, source, work / f"out-{side}-{size}.jsonl", args.chunk_rows)
            runs.append(pair[side])
            log(json.dumps(pair[side]))
        ratios[f"{size:,}"] = {"throughput": pair["stream"]["texts_per_s"] / pair["memory"]["texts_per_s"],
                               "memory": pair["stream"]["peak_rss_mb"] / pair["memory"]["peak_rss_mb"]}
    streamed = [r for r in runs if r["mode"] == "stream"]
    result = {"mode": mode, "machine": machine, "runs": runs, "ratios": ratios, "chunk_rows": args.chunk_rows,
              "stream_memory_growth": streamed[1]["peak_rss_mb"] / streamed[0]["peak_rss_mb"],
              "size_growth": sizes[1] // sizes[0], "finished": datetime.now(UTC).isoformat(timespec="seconds"),
              "self_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    flags = (" --quick" if args.quick else "") + (f" --sizes {args.sizes}" if args.sizes else "") \
        + (f" --chunk-rows {args.chunk_rows}" if args.chunk_rows != 10_000 else "")
    command = f"`.venv/bin/python benchmarks/bench_batch.py{flags}`"
    bench_train.write_json_atomic(BENCH / "results" / f"batch-{mode}.json", result)
    section = render(result, command)
    bench_train.update_results_md(BENCH / "RESULTS.md", mode, section, bench="bench-batch")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
