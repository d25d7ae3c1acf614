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


def cpu_info() -> dict[str, Any]:
    """lscpu's model name and whether the CPU has bf16, AVX-512 and AMX."""
    import os
    import subprocess

    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    return {"model": fields.get("Model name", "").strip(), "cpus": len(os.sched_getaffinity(0)),
            "bf16": bool({"avx512_bf16", "amx_bf16"} & flags), "avx512": "avx512f" in flags,
            "amx": any(f.startswith("amx") for f in flags)}


def log(message: str) -> None:
    print(f"[bench-assistant {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def read_banking(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text"], r["category"]) for r in csv.DictReader(handle)]


def banking77_split() -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """(training questions in the benchmark's shuffled order, test questions, the UNSEEN intents left out of the
    knowledge base): the one split every Banking77 hand-off script reads."""
    folder = SHARED / "banking77"
    train, test = read_banking(folder / "train.csv"), read_banking(folder / "test.csv")
    unseen = sorted(random.Random(0).sample(sorted({label for _, label in train}), UNSEEN))
    random.Random(1).shuffle(train)
    return train, test, unseen


def write_kb(path: Path, rows: list[tuple[str, str]], per_intent: int | None, out_of_scope: list[str]) -> None:
    import yaml

    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, label in rows:
        if per_intent is None or len(by_intent[label]) < per_intent:
            by_intent[label].append(text)
    kb = {"intents": [{"name": name, "examples": texts, "answer": f"[answer for {name}]"}
                      for name, texts in sorted(by_intent.items())]}
    if out_of_scope:
        kb["out_of_scope"] = out_of_scope
    path.write_text(yaml.safe_dump(kb, sort_keys=False, allow_unicode=True), encoding="utf-8")


def bench_banking77(work: Path, quick: bool, target: str, reuse: bool = False,
                    oos_share: float | None = None, model: str = "minilm", epochs: int | None = None,
                    lr: float | None = None, kb_oos: int = 0, oos_training: str = "auto",
                    batch_size: int | None = None, holdout: str = "auto", seed: int = 42) -> dict[str, Any]:
    from tunelab.apps.assistant.build import BuildOptions, run_build
    from tunelab.apps.assistant.calibrate import Target
    from tunelab.apps.assistant.evaluation import evaluate_assistant
    from tunelab.apps.assistant.kb import OUT_OF_SCOPE
    from tunelab.apps.assistant.router import Assistant

    train, test, unseen = banking77_split()
    per_intent = 40 if quick else None
    # --kb-oos: half the unseen intents ("known" out-of-scope topics) give the KB's out_of_scope examples; the test
    # scores hand-offs of the other half's questions, topics nothing in the build has seen
    known = sorted(random.Random(2).sample(unseen, UNSEEN // 2)) if kb_oos else []
    out_of_scope = [t for t, label in train if label in known][:kb_oos]
    kb_path = work / "banking77-kb.yaml"
    write_kb(kb_path, [(t, label) for t, label in train if label not in unseen], per_intent, out_of_scope)
    variant = _variant(kb_oos, oos_training, holdout, seed)
    out = work / (("banking77-assistant-quick" if quick else "banking77-assistant") + _suffix(model) + variant)
    started = time.perf_counter()
    if not (reuse and (out / "assistant.json").is_file()):
        shutil.rmtree(out, ignore_errors=True)
        run_build(kb_path, out, BuildOptions(name="banking77", model=model, target=Target.parse(target),
                                             epochs=epochs or (4 if quick else None), lr=lr, batch_size=batch_size,
                                             oos_share=oos_share, oos_training=oos_training,
                                             holdout=holdout, seed=seed))
    build_s = time.perf_counter() - started
    assistant = Assistant.load(out)
    known_test = [(t, OUT_OF_SCOPE) for t, label in test if label in known]
    test = [(t, label) for t, label in test if label not in known]
    texts = [t for t, _ in test]
    labels = [OUT_OF_SCOPE if label in unseen else label for _, label in test]
    started = time.perf_counter()
    scores = assistant.score(texts)
    result = evaluate_assistant(assistant, texts, labels).to_dict()
    eval_s = time.perf_counter() - started
    manifest = assistant.manifest
    extra: dict[str, Any] = {}
    if known:
        in_scope = [(t, label) for t, label in zip(texts, labels) if label != OUT_OF_SCOPE]
        known_texts = [t for t, _ in in_scope + known_test]
        known_labels = [label for _, label in in_scope + known_test]
        table = score_table(assistant, assistant.score(known_texts), known_labels)
        extra = {"kb_out_of_scope": len(out_of_scope), "known_oos_intents": known, "oos_training": oos_training,
                 "known_topics_scores": {name: {k: v for k, v in row.items() if k != "curve"}
                                         for name, row in table.items()}}
    return {**extra, "model": model, "epochs": epochs, "lr": lr, "unseen_intents": unseen,
            "kb_examples": manifest.counts["intent_examples"],
            "per_intent_cap": per_intent, "target": target, "oos_share_stated": oos_share,
            "build_seconds": round(build_s, 1), "eval_seconds": round(eval_s, 1), "calibration": manifest.calibration,
            "calibration_sources": manifest.sources, "test": result, "test_curve": curve(scores, labels),
            "scores": score_table(assistant, scores, labels),
            "oos_share_estimate": share_estimate(assistant, scores, out)}


def _variant(kb_oos: int, oos_training: str, holdout: str, seed: int) -> str:
    """The suffix of a non-default build's work folder and result files: '' for the default benchmark."""
    return ((f"-kboos{kb_oos}-{oos_training}" if kb_oos else "") + ("" if holdout == "auto" else f"-{holdout}")
            + ("" if seed == 42 else f"-seed{seed}"))


def _suffix(model: str) -> str:
    """'' for the default encoder, else '-<name>' so another encoder's results sit beside the default's."""
    return "" if model == "minilm" else "-" + Path(model).name


def score_table(assistant: Any, scores: Any, labels: list[str]) -> dict[str, Any]:
    """Per out-of-scope score on the test split: AUROC, AUPRC, FPR at 95% recall (sklearn) and the curve of
    in-scope accuracy against out-of-scope recall as its threshold moves."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    from tunelab.apps.assistant.calibrate import Thresholds, route_labels, score_routes
    from tunelab.apps.assistant.kb import OUT_OF_SCOPE

    if scores.components is None:
        return {}
    is_oos = np.array([label == OUT_OF_SCOPE for label in labels])
    named = {"combined": assistant.ood.combiner.score(scores.components),
             **{n: scores.components.values[n] for n in scores.components.names}}
    base = scores.scored()
    t = assistant.thresholds
    out = {}
    for name, values in named.items():
        cut = np.quantile(values[is_oos], 0.05)
        points = []
        for q in np.linspace(0.0, 1.0, 101):
            threshold = float(np.quantile(values, q)) if q < 1 else float(values.max()) + 1
            scored = type(base)(base.intent, base.intent_p, base.faq, base.faq_s, values)
            m = score_routes(route_labels(scored, Thresholds(t.intent, t.faq, threshold)), labels)
            points.append({"threshold": round(threshold, 6), "in_scope_accuracy": round(m.in_scope_accuracy, 4),
                           "oos_recall": round(m.oos_recall, 4), "oos_precision": round(m.oos_precision, 4)})
        at_90 = max((p["oos_recall"] for p in points if p["in_scope_accuracy"] >= 0.90), default=0.0)
        out[name] = {"auroc": round(float(roc_auc_score(is_oos, values)), 4),
                     "auprc": round(float(average_precision_score(is_oos, values)), 4),
                     "fpr_at_95": round(float((values[~is_oos] >= cut).mean()), 4),
                     "oos_recall_at_in_scope_acc_0.90": at_90, "curve": points}
    return out


def share_estimate(assistant: Any, scores: Any, folder: Path) -> dict[str, Any]:
    """The out-of-scope share of the test questions estimated from their (unlabelled) scores."""
    import numpy as np

    from tunelab.apps.assistant.prior import estimate_oos_share

    if scores.ood is None:
        return {}
    rows = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))["questions"]
    calib_in = np.array([r["ood"] for r in rows if r["gold"] != "out_of_scope"], dtype=float)
    calib_oos = np.array([r["ood"] for r in rows if r["gold"] == "out_of_scope"], dtype=float)
    return {"method": assistant.ood.method,
            "estimate": round(estimate_oos_share(scores.ood, calib_in, calib_oos), 4)}


def curve(scores: Any, labels: list[str]) -> list[dict[str, Any]]:
    """Test metrics over a range of intent (softmax) thresholds: the trade-off before out-of-scope scores."""
    from tunelab.apps.assistant.calibrate import NEVER, Thresholds, route_labels, score_routes

    scored = scores.scored()
    points = []
    for t in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        m = score_routes(route_labels(scored, Thresholds(t, NEVER)), labels)
        points.append({"intent_threshold": t, **m.to_dict()})
    return points


def plot_curves(table: dict[str, Any], path: Path) -> None:
    """One line per score: in-scope accuracy (x) against out-of-scope recall (y) on the test split."""
    if not table:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, row in table.items():
        xs = [p["in_scope_accuracy"] for p in row["curve"]]
        ys = [p["oos_recall"] for p in row["curve"]]
        ax.plot(xs, ys, label=f"{name} (AUROC {row['auroc']:.3f})", lw=2 if name == "combined" else 1)
    ax.axvline(0.90, color="grey", ls=":", lw=1)
    ax.axhline(0.80, color="grey", ls=":", lw=1)
    ax.set_xlim(0.5, 1.0)
    ax.set_xlabel("in-scope accuracy")
    ax.set_ylabel("out-of-scope recall")
    ax.set_title("Banking77, 10 unseen intents: hand-off trade-off per score")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    parser.add_argument("--oos-share", type=float, default=0.13,
                        help="the out-of-scope share stated to the build (the test split's: 400 of 3,080)")
    parser.add_argument("--model", default="minilm",
                        help="the classifier's encoder (minilm, mpnet or a local folder); results get a suffix")
    parser.add_argument("--epochs", type=int, help="the classifier's epochs (default: TuneLab's for the data)")
    parser.add_argument("--lr", type=float, help="the classifier's peak learning rate (default: TuneLab's)")
    parser.add_argument("--batch-size", type=int, help="the classifier's batch size (default: TuneLab's for the data)")
    parser.add_argument("--kb-oos", type=int, default=0,
                        help="give the KB this many out_of_scope examples from 5 of the 10 unseen intents; the test "
                             "then scores the other 5 (results get a -kboos<N>-<oos-training> suffix)")
    parser.add_argument("--oos-training", default="auto", choices=("auto", "never"),
                        help="with --kb-oos: train on half of them as an out-of-scope class (auto), or only calibrate")
    parser.add_argument("--holdout", default="auto", choices=("auto", "always", "never"),
                        help="the build's --holdout (always: simulate unseen intents with KB out_of_scope ones too)")
    parser.add_argument("--seed", type=int, default=42, help="the build's seed (calibration split and training)")
    parser.add_argument("--plot", default=str(BENCH / "results" / "assistant-ood.png"),
                        help="where the in-scope accuracy vs out-of-scope recall plot goes")
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is absent: this benchmark needs ../shared/data (banking77, wikiqa)")
    work = BENCH / "work" / "assistant"
    work.mkdir(parents=True, exist_ok=True)
    command = "make bench-assistant-quick" if args.quick else "make bench-assistant"
    command += f" ASSISTANT_MODEL={args.model}" if args.model != "minilm" else ""
    options = (("epochs", args.epochs), ("lr", args.lr), ("batch-size", args.batch_size))
    command += "".join(f" --{k} {v}" for k, v in options if v is not None)
    variant = _variant(args.kb_oos, args.oos_training, args.holdout, args.seed)
    command += f" --holdout {args.holdout}" if args.holdout != "auto" else ""
    command += f" --seed {args.seed}" if args.seed != 42 else ""
    command += f" --kb-oos {args.kb_oos} --oos-training {args.oos_training}" if args.kb_oos else ""
    command += " (--reuse: evaluated again, built earlier)" if args.reuse else ""
    result: dict[str, Any] = {"command": command, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "cpu": cpu_info()}
    log("WikiQA answer selection (filtered test questions)")
    result["wikiqa"] = bench_wikiqa()
    log(f"WikiQA: {json.dumps(result['wikiqa'])}")
    if not args.skip_banking77:
        log("Banking77: unseen intents must be handed off")
        result["banking77"] = bench_banking77(work, args.quick, args.target, args.reuse, args.oos_share,
                                              args.model, args.epochs, args.lr, args.kb_oos, args.oos_training,
                                              args.batch_size, args.holdout, args.seed)
        log(f"Banking77: {json.dumps(result['banking77']['test'])}")
        plot = args.plot.replace(".png", "-quick.png") if args.quick else args.plot
        plot_curves(result["banking77"]["scores"],
                    Path(plot.replace(".png", f"{_suffix(args.model)}{variant}.png")))
    name = ("assistant-quick" if args.quick else "assistant") + _suffix(args.model) + variant
    out = BENCH / "results" / f"{name}.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
