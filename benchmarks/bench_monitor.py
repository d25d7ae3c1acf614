#!/usr/bin/env python
"""Monitor benchmark on real financial news (../shared/data/twitter_financial_news_sentiment), one run:

1. Sentiment: fine-tune the bundled MiniLM on sent_train.csv (labels 0 bearish, 1 bullish, 2 neutral; dev carved
   from train), then accuracy and macro-F1 on the sent_valid.csv split (never used for training or tuning).
2. Burst replay: a calm stream of sent_valid headlines (their natural mix, bearish ones included) with Poisson
   arrivals over two days, into which a burst of bearish sent_valid headlines about one ticker ($ZZBT, absent from
   the data) is injected on day two. Replayed through `run_replay` with the rules of docs/monitor.md, classified
   by the model trained in step 1. Pass: an alert on the ticker within one window of the burst's start, and no
   alert on the calm part (any alert on another key, or before the burst).

    .venv/bin/python benchmarks/bench_monitor.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (machine info, atomic writers, RESULTS.md sections)

DATA = ROOT.parent / "shared" / "data" / "twitter_financial_news_sentiment"
NAMES = {"0": "bearish", "1": "bullish", "2": "neutral"}
TICKER = "ZZBT"
WINDOW_S = 3600.0
FULL_EPOCHS = 2  # the data-size default would be 6; 2 reached 0.87 dev accuracy and keeps the run near 20 min
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
RULES = [
    {"name": "ticker-negative", "type": "threshold", "scope": "ticker", "metric": "negative_share", "above": 0.6,
     "min_volume": 5, "window": "1h", "cooldown": "6h"},
    {"name": "ticker-negative-spike", "type": "spike", "scope": "ticker", "metric": "negative", "z": 4,
     "baseline_windows": 24, "min_volume": 5, "window": "1h", "cooldown": "6h"},
    {"name": "market-negative-spike", "type": "spike", "scope": "all", "metric": "negative", "z": 5,
     "baseline_windows": 24, "min_volume": 10, "window": "1h", "cooldown": "6h"},
]


def log(message: str) -> None:
    print(f"[bench-monitor {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def read_rows(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle)]


def train(work: Path, quick: bool, threads: int | None, epochs: int) -> Path:
    """Train once per mode (kept in benchmarks/work, git-ignored); the shared files are read in place."""
    import tunelab

    run = work / ("sentiment-quick" if quick else f"sentiment-{epochs}ep")
    if (run / "manifest.json").is_file():
        log(f"reusing {run}")
        return run
    data = DATA / "sent_train.csv"
    options: dict[str, Any] = {}
    if quick:  # a seeded 2,000-row subset (a git-ignored work file), two epochs
        rows = read_rows(data)
        random.Random(0).shuffle(rows)
        data = work / "sent_train_2000.csv"
        with open(data, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(rows[:2000])
        options["epochs"] = 2
    else:
        options["epochs"] = epochs
    log(f"training on {data.name} ({'quick' if quick else 'full'} mode)")
    tunelab.train(data=str(data), test=str(DATA / "sent_valid.csv"), output=str(run), seed=0, threads=threads,
                  **options)
    return run


def score(run: Path) -> dict[str, Any]:
    from tunelab.evaluation.classification import classification_report
    from tunelab.inference import Predictor

    rows = read_rows(DATA / "sent_valid.csv")
    predictor = Predictor.load(run)
    started = time.perf_counter()
    predicted = [p.label for p in predictor.predict([t for t, _ in rows], batch_size=64)]
    seconds = time.perf_counter() - started
    gold = [label for _, label in rows]
    report = classification_report(gold, predicted, sorted(NAMES))
    f1 = {NAMES[label]: round(scores.f1, 4) for label, scores in report.table.per_class.items()}
    macro = report.table.macro.f1
    try:  # cross-check against scikit-learn when the dev extras are installed
        from sklearn.metrics import f1_score

        assert abs(f1_score(gold, predicted, average="macro") - macro) < 1e-9
    except ImportError:
        pass
    return {"examples": len(rows), "accuracy": round(report.accuracy, 4), "macro_f1": round(macro, 4),
            "f1_per_class": f1, "predict_seconds": round(seconds, 2), "texts_per_s": round(len(rows) / seconds, 1)}


def build_stream(seed: int = 0, hours: int = 48, per_hour: float = 30.0, burst_size: int = 12,
                 burst_hour: float = 37.25, burst_spacing_min: float = 2.5) -> tuple[list[Any], float, float]:
    """The calm stream plus the burst; returns (events, burst start, burst end) in epoch seconds."""
    from tunelab.apps.monitor.events import Event, extract_tickers

    rng = random.Random(seed)
    rows = read_rows(DATA / "sent_valid.csv")
    rng.shuffle(rows)
    bearish = [t for t, label in rows if label == "0"]
    burst_texts = bearish[:burst_size]
    calm_pool = [t for t, _ in rows if t not in set(burst_texts)]
    events, at, i = [], 0.0, 0
    while at < hours * 3600:
        text = calm_pool[i % len(calm_pool)]
        events.append(Event(text, START + timedelta(seconds=at), "calm", extract_tickers(text)))
        i += 1
        at += rng.expovariate(per_hour / 3600)
    begin = burst_hour * 3600
    for k, text in enumerate(burst_texts):
        body = f"${TICKER}: " + " ".join(w for w in text.split() if not w.startswith("$"))
        stamp = START + timedelta(seconds=begin + k * burst_spacing_min * 60)
        events.append(Event(body, stamp, "burst", extract_tickers(body)))
    end = begin + (burst_size - 1) * burst_spacing_min * 60
    return events, START.timestamp() + begin, START.timestamp() + end


def replay(run: Path) -> dict[str, Any]:
    from tunelab.apps.monitor.config import parse_monitor_config
    from tunelab.apps.monitor.replay import run_replay

    config = parse_monitor_config({"name": "bench", "window": "1h", "rules": RULES,
                                   "sentiment": {"model": str(run), "negative_labels": ["0"],
                                                 "positive_labels": ["1"]}}, source="bench")
    events, burst_start, burst_end = build_stream()
    log(f"replaying {len(events)} events ({sum(e.source == 'burst' for e in events)} in the burst)")
    report = run_replay(events, config)
    alerts = [{**a, "delay_s": datetime.fromisoformat(a["at"]).timestamp() - burst_start} for a in report.alerts]
    on_burst = [a for a in alerts if a["delay_s"] >= 0 and (a["key"] == TICKER or a["kind"] == "all")
                and a["delay_s"] <= burst_end - burst_start + WINDOW_S]
    calm = [a for a in alerts if a not in on_burst]
    first = min((a["delay_s"] for a in on_burst if a["key"] == TICKER), default=None)
    burst_items = [e for e in events if e.source == "burst"]
    return {"events": report.events, "burst_items": len(burst_items), "hours": 48,
            "burst_start": datetime.fromtimestamp(burst_start, UTC).isoformat(),
            "replay_seconds": round(report.seconds, 1),
            "events_per_s": round(report.events / report.seconds, 1), "alerts": alerts,
            "first_ticker_alert_delay_s": first, "calm_alerts": len(calm),
            "passed": first is not None and first <= WINDOW_S and not calm}


def render(result: dict[str, Any], mode: str, command: str) -> str:
    s, r, m = result["sentiment"], result["replay"], result["machine"]
    lines = [f"## Monitor benchmark: {mode} mode", "",
             f"Command: {command}, {result['finished']}. Machine: {m['cpu_model']}, {m['cpus']} CPUs; "
             f"torch {m['versions']['torch']}, tunelab {m['versions']['tunelab']}. Total wall time "
             f"{result['wall_s']:.0f} s.", "",
             f"Sentiment (bundled MiniLM fine-tuned on sent_train"
             f"{' subset of 2,000' if mode == 'quick' else ''}, {result['epochs']} epochs; scored on sent_valid, "
             f"{s['examples']:,} headlines): **accuracy {s['accuracy']:.4f}, macro-F1 "
             f"{s['macro_f1']:.4f}** (F1 bearish {s['f1_per_class']['bearish']}, bullish "
             f"{s['f1_per_class']['bullish']}, neutral {s['f1_per_class']['neutral']}); {s['texts_per_s']} texts/s.",
             "",
             f"Burst replay: {r['events']:,} events over {r['hours']} h (Poisson, 30/h, sent_valid headlines with "
             f"their natural label mix), {r['burst_items']} bearish headlines about ${TICKER} injected from "
             f"{r['burst_start']} (one every 2.5 min); rules as in docs/monitor.md (1 h windows). Replayed in "
             f"{r['replay_seconds']} s ({r['events_per_s']} events/s, classification included).", "",
             "| alert at | rule | key | value | delay after burst start |", "|---|---|---|---|---|"]
    for a in r["alerts"]:
        lines.append(f"| {a['at']} | {a['rule']} | {a['kind']}:{a['key']} | {a['value']:.3f} | {a['delay_s']:.0f} s |")
    first = r["first_ticker_alert_delay_s"]
    verdict = "**passed**" if r["passed"] else "**failed**"
    if mode == "quick":
        verdict += " (quick mode: a smoke run on a weak model; the target is set for full mode)"
    lines += ["", f"Result: {verdict}: first ${TICKER} alert {first if first is None else f'{first:.0f} s'} after "
              f"the burst's start (target: within one window, 3600 s); alerts on the calm part: {r['calm_alerts']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="train on a 2,000-row subset for 2 epochs")
    parser.add_argument("--epochs", type=int, default=FULL_EPOCHS, help="full mode: training epochs")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: all cores; 1 is faster when other jobs share the CPU)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/data/twitter_financial_news_sentiment")
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    work = BENCH / "work" / "monitor"
    work.mkdir(parents=True, exist_ok=True)
    if args.threads:
        from tunelab.training.precision import set_threads

        set_threads(args.threads)
    run = train(work, args.quick, args.threads, args.epochs)
    result: dict[str, Any] = {"mode": mode, "epochs": 2 if args.quick else args.epochs,
                              "machine": bench_train.machine_info(), "sentiment": score(run)}
    log(f"sentiment: {result['sentiment']}")
    result["replay"] = replay(run)
    log(f"replay: passed={result['replay']['passed']} first delay={result['replay']['first_ticker_alert_delay_s']} "
        f"calm alerts={result['replay']['calm_alerts']}")
    result["wall_s"] = time.perf_counter() - started
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    command = "`make bench-monitor-quick`" if args.quick else "`make bench-monitor`"
    flags = (" --quick" if args.quick else "") + (f" --threads {args.threads}" if args.threads else "")
    flags += f" --epochs {args.epochs}" if not args.quick and args.epochs != FULL_EPOCHS else ""
    command += f" (ran as `.venv/bin/python benchmarks/bench_monitor.py{flags}`)"
    bench_train.write_json_atomic(BENCH / "results" / f"monitor{'-quick' if args.quick else ''}.json", result)
    section = render(result, mode, command)
    start, end = f"<!-- bench-monitor:{mode} start -->", f"<!-- bench-monitor:{mode} end -->"
    path = BENCH / "RESULTS.md"
    text = path.read_text(encoding="utf-8")
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        text = text.split(start, 1)[0] + block + text.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    bench_train.write_text_atomic(path, text)
    print(section)
    return 0 if result["replay"]["passed"] or args.quick else 1  # quick mode: a smoke run, indicative only


if __name__ == "__main__":
    sys.exit(main())
