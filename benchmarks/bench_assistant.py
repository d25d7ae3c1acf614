#!/usr/bin/env python
"""Assistant benchmark on real data: Banking77 hand-off of unseen intents, and WikiQA answer selection.

Banking77: 10 of the 77 intents (seeded) are left out of the knowledge base entirely. The assistant is built
from the other 67 (`tunelab assistant build`'s own flow: the KB has no out-of-scope examples, so the build holds
out 20% of the seen intents to calibrate the thresholds for the target out-of-scope recall), then scored on the
official test split: in-scope accuracy on the 67 seen intents' questions, out-of-scope precision and recall on
the unseen intents' questions (they must be handed off).

WikiQA: the filtered test questions (those with at least one correct sentence: 237); each question's candidate
sentences become the FAQ index the assistant retrieves from (bundled MiniLM sentence embeddings, cosine),
ranked; MAP and MRR against the corpus's CNN-Cnt baseline (0.659 / 0.674).

    .venv/bin/python benchmarks/bench_assistant.py [--quick]     # make bench-assistant[-quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SHARED = ROOT.parent / "shared" / "data"
CNN_CNT = {"map": 0.659, "mrr": 0.674}
UNSEEN = 10


def log(message: str) -> None:
    print(f"[bench-assistant {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def read_banking(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text"], r["category"]) for r in csv.DictReader(handle)]


def write_kb(path: Path, rows: list[tuple[str, str]], per_intent: int | None) -> None:
    import yaml

    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, label in rows:
        if per_intent is None or len(by_intent[label]) < per_intent:
            by_intent[label].append(text)
    kb = {"intents": [{"name": name, "examples": texts, "answer": f"[answer for {name}]"}
                      for name, texts in sorted(by_intent.items())]}
    path.write_text(yaml.safe_dump(kb, sort_keys=False, allow_unicode=True), encoding="utf-8")


def bench_banking77(work: Path, quick: bool, target: str, reuse: bool = False) -> dict[str, Any]:
    from tunelab.apps.assistant.build import BuildOptions, run_build
    from tunelab.apps.assistant.calibrate import Target
    from tunelab.apps.assistant.evaluation import evaluate_assistant
    from tunelab.apps.assistant.kb import OUT_OF_SCOPE
    from tunelab.apps.assistant.router import Assistant

    folder = SHARED / "banking77"
    train, test = read_banking(folder / "train.csv"), read_banking(folder / "test.csv")
    intents = sorted({label for _, label in train})
    unseen = sorted(random.Random(0).sample(intents, UNSEEN))
    rng = random.Random(1)
    rng.shuffle(train)
    per_intent = 40 if quick else None
    kb_path = work / "banking77-kb.yaml"
    write_kb(kb_path, [(t, label) for t, label in train if label not in unseen], per_intent)
    out = work / ("banking77-assistant-quick" if quick else "banking77-assistant")
    started = time.perf_counter()
    if not (reuse and (out / "assistant.json").is_file()):
        shutil.rmtree(out, ignore_errors=True)
        run_build(kb_path, out, BuildOptions(name="banking77", target=Target.parse(target),
                                             epochs=4 if quick else None))
    build_s = time.perf_counter() - started
    assistant = Assistant.load(out)
    texts = [t for t, _ in test]
    labels = [OUT_OF_SCOPE if label in unseen else label for _, label in test]
    started = time.perf_counter()
    result = evaluate_assistant(assistant, texts, labels).to_dict()
    eval_s = time.perf_counter() - started
    manifest = assistant.manifest
    return {"unseen_intents": unseen, "kb_examples": manifest.counts["intent_examples"],
            "per_intent_cap": per_intent, "target": target, "build_seconds": round(build_s, 1),
            "eval_seconds": round(eval_s, 1), "calibration": manifest.calibration,
            "calibration_sources": manifest.sources, "test": result, "test_curve": curve(assistant, texts, labels)}


def curve(assistant: Any, texts: list[str], labels: list[str]) -> list[dict[str, Any]]:
    """Test metrics over a range of intent thresholds: the trade-off the calibration picks a point on."""
    from tunelab.apps.assistant.calibrate import NEVER, Thresholds, route_labels, score_routes

    scored = assistant.score(texts).scored()
    points = []
    for t in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        m = score_routes(route_labels(scored, Thresholds(t, NEVER)), labels)
        points.append({"intent_threshold": t, **m.to_dict()})
    return points


def read_wikiqa(folder: Path, split: str = "test") -> dict[str, dict[str, Any]]:
    """The filtered questions of a split: `WikiQA-<split>.txt` rows grouped by the question ids of the aligned
    `.ref` file, kept when `-filtered.ref` lists the id (questions with at least one correct sentence)."""
    keep = {line.split()[0] for line in (folder / f"WikiQA-{split}-filtered.ref").read_text().splitlines() if line}
    refs = [line.split() for line in (folder / f"WikiQA-{split}.ref").read_text().splitlines() if line]
    rows = [line.split("\t") for line in (folder / f"WikiQA-{split}.txt").read_text(encoding="utf-8").splitlines()]
    if len(refs) != len(rows):
        raise SystemExit(f"WikiQA-{split}.txt and .ref are not aligned ({len(rows)} vs {len(refs)} lines)")
    questions: dict[str, dict[str, Any]] = {}
    for ref, (question, sentence, label) in zip(refs, rows):
        if ref[0] not in keep:
            continue
        q = questions.setdefault(ref[0], {"question": question, "sentences": [], "labels": []})
        q["sentences"].append(sentence)
        q["labels"].append(label.strip() == "1")
    return questions


def bench_wikiqa() -> dict[str, Any]:
    import numpy as np

    from tunelab.apps.assistant.evaluation import average_precision, reciprocal_rank
    from tunelab.apps.assistant.index import FaqIndex, SentenceEncoder
    from tunelab.models.resolve import resolve_model_path

    filtered = read_wikiqa(SHARED / "wikiqa")
    encoder = SentenceEncoder.load(resolve_model_path("minilm"))
    started = time.perf_counter()
    items = list(filtered.values())
    sentences = encoder.embed([s for q in items for s in q["sentences"]], "passage")
    queries = encoder.embed([q["question"] for q in items], "query")
    aps, rrs, start = [], [], 0
    for i, q in enumerate(items):  # each question's candidate sentences are the FAQ index it retrieves from
        n = len(q["sentences"])
        index = FaqIndex(sentences[start:start + n], np.arange(n), tuple(map(str, range(n))), tuple(q["sentences"]))
        start += n
        scores, _rows = index.entry_scores(queries[i:i + 1])
        aps.append(average_precision(list(scores[0]), q["labels"]))
        rrs.append(reciprocal_rank(list(scores[0]), q["labels"]))
    return {"questions": len(filtered), "candidates": sum(len(q["sentences"]) for q in filtered.values()),
            "map": round(float(np.mean(aps)), 4), "mrr": round(float(np.mean(rrs)), 4), "baseline_cnn_cnt": CNN_CNT,
            "seconds": round(time.perf_counter() - started, 1), "encoder": "bundled all-MiniLM-L6-v2, mean pooling"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 examples per intent, 4 epochs")
    parser.add_argument("--target", default="recall=0.8", help="out-of-scope target for the calibration")
    parser.add_argument("--skip-banking77", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="evaluate the assistant built by an earlier run again")
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is absent: this benchmark needs ../shared/data (banking77, wikiqa)")
    work = BENCH / "work" / "assistant"
    work.mkdir(parents=True, exist_ok=True)
    command = "make bench-assistant-quick" if args.quick else "make bench-assistant"
    command += " (--reuse: evaluated again, built earlier)" if args.reuse else ""
    result: dict[str, Any] = {"command": command, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    log("WikiQA answer selection (filtered test questions)")
    result["wikiqa"] = bench_wikiqa()
    log(f"WikiQA: {json.dumps(result['wikiqa'])}")
    if not args.skip_banking77:
        log("Banking77: unseen intents must be handed off")
        result["banking77"] = bench_banking77(work, args.quick, args.target, args.reuse)
        log(f"Banking77: {json.dumps(result['banking77']['test'])}")
    out = BENCH / "results" / ("assistant-quick.json" if args.quick else "assistant.json")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
