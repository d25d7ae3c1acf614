#!/usr/bin/env python
"""PII detection benchmark: TuneLab's pattern and checksum detectors (and an NER run, when one is given) on a
Faker-generated, seeded set of support tickets in English and Chinese (benchmarks/pii_set.py).

Per type: precision, recall and F1, where a finding counts when it overlaps a labelled entity of the same type
(exact-span recall is reported too); overall recall over every labelled entity. Person, organisation and location
names need an NER model (`--ner-model RUN`, and/or `--ner-model-multilingual RUN` for texts outside the Latin
script); without one they are reported as not covered.
Microsoft Presidio is put side by side when `presidio-analyzer` runs here offline (it is not a dependency).

    .venv/bin/python benchmarks/bench_privacy.py [--n 2000] [--ner-model RUN] [--ner-model-multilingual RUN]
                                                 [--presidio-python PATH]

Presidio side by side: `python3 -m venv /tmp/presidio-venv && /tmp/presidio-venv/bin/pip install
presidio-analyzer`, then `PRESIDIO_PYTHON=/tmp/presidio-venv/bin/python make bench-privacy`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (machine info, atomic writers, RESULTS.md sections)
from pii_set import Sample, build_set  # noqa: E402

TARGET_PATTERN_RECALL = 0.98  # issue 19: checksum- and pattern-based types
TARGET_PERSON_RECALL = 0.90
TARGET_OVERALL_RECALL = 0.95
CHECKSUM_TYPES = ("email", "phone", "card", "iban", "ip", "national_id")
NAME_TYPES = ("person", "organisation", "location")


def score(samples: list[Sample], predicted: list[list[Any]], types: tuple[str, ...]) -> dict[str, Any]:
    """Per-type counts: gold entities found (any overlap / exact span), predictions that hit a gold entity."""
    counts: dict[str, Counter[str]] = {t: Counter() for t in types}
    for sample, found in zip(samples, predicted):
        for gold in sample.entities:
            same = [f for f in found if f.type == gold.type]
            c = counts.setdefault(gold.type, Counter())
            c["gold"] += 1
            c["found"] += any(f.start < gold.end and gold.start < f.end for f in same)
            c["exact"] += any(f.start == gold.start and f.end == gold.end for f in same)
        for f in found:
            c = counts.setdefault(f.type, Counter())
            c["predicted"] += 1
            c["correct"] += any(g.type == f.type and f.start < g.end and g.start < f.end for g in sample.entities)
    return {t: _rates(c) for t, c in counts.items()}


def _rates(c: Counter[str]) -> dict[str, Any]:
    precision = c["correct"] / c["predicted"] if c["predicted"] else None
    recall = c["found"] / c["gold"] if c["gold"] else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {"gold": c["gold"], "predicted": c["predicted"], "precision": _r(precision), "recall": _r(recall),
            "f1": _r(f1), "exact_recall": _r(c["exact"] / c["gold"] if c["gold"] else None)}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def overall(per_type: dict[str, Any], types: tuple[str, ...]) -> float | None:
    gold = sum(per_type[t]["gold"] for t in types if t in per_type)
    found = sum(round((per_type[t]["recall"] or 0) * per_type[t]["gold"]) for t in types if t in per_type)
    return _r(found / gold) if gold else None


def run_tunelab(samples: list[Sample], ner_model: str | None,
                multilingual: str | None = None) -> tuple[list[list[Any]], tuple[str, ...], float]:
    """Findings of every type the detectors cover: the pattern types, and names when an NER run is given (both
    runs: each text goes to one of them by its script, as the server does)."""
    from tunelab.privacy import PATTERN_TYPES, PII_TYPES, RedactionPolicy, Redactor
    from tunelab.privacy.ner import load_ner

    ner = load_ner(ner_model, multilingual)
    types = PII_TYPES if ner else PATTERN_TYPES
    redactor = Redactor(RedactionPolicy(types=types), ner=ner)
    started = time.perf_counter()
    found = redactor.find_many([s.text for s in samples])
    return found, types, time.perf_counter() - started


class Given:
    """A detector that returns findings computed before (to score one NER model's findings with the patterns')."""

    types = ("person", "organisation", "location")

    def __init__(self, found: list[list[Any]]) -> None:
        self.found = found

    def find_many(self, texts: list[str]) -> list[list[Any]]:
        return self.found


def compare_models(samples: list[Sample], ner_model: str | None, multilingual: str | None) -> dict[str, Any]:
    """With both runs: names per ticket language and overall recall for the English run alone, the multilingual
    run alone, and both routed by script (each model run once over every ticket)."""
    if not (ner_model and multilingual):
        return {}
    from tunelab.privacy import PII_TYPES, RedactionPolicy, Redactor
    from tunelab.privacy.ner import NerDetector, needs_multilingual

    texts = [s.text for s in samples]
    english = NerDetector.load(ner_model).find_many(texts)
    other = NerDetector.load(multilingual).find_many(texts)
    routed = [o if needs_multilingual(t) else e for t, e, o in zip(texts, english, other)]
    out = {}
    for name, names in ((f"{ner_model} alone", english), (f"{multilingual} alone", other),
                        ("both, by script", routed)):
        found = Redactor(RedactionPolicy(types=PII_TYPES), ner=Given(names)).find_many(texts)
        out[name] = {"overall_recall": overall(score(samples, found, PII_TYPES), PII_TYPES),
                     "names_by_language": names_by_language(samples, found)}
    return out


def describe_run(run: str | None) -> dict[str, Any] | None:
    """What a reader needs to weigh an NER run: its base model, how much it trained, its CoNLL test F1."""
    if not run:
        return None
    import json

    import yaml

    folder = Path(run)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    train = (yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}).get("train", {})
    return {"run": run, "base_model": manifest.get("base_model"), "steps": manifest["timings"].get("steps"),
            "batch_size": train.get("batch_size"), "lr": train.get("lr"),
            "train_examples": manifest["splits"]["train"].get("examples"),
            "test_f1": manifest["metrics"].get("test", {}).get("f1")}


def names_by_language(samples: list[Sample], found: list[list[Any]]) -> dict[str, Any]:
    by_language = {lang: score([s for s in samples if s.lang == lang],
                               [f for s, f in zip(samples, found) if s.lang == lang], NAME_TYPES)
                   for lang in sorted({s.lang for s in samples})}
    return {lang: {t: rows[t] for t in NAME_TYPES} for lang, rows in by_language.items()}


def run_presidio(samples: list[Sample], python: str | None) -> dict[str, Any]:
    """Presidio's predefined pattern recognizers (benchmarks/presidio_side.py under Presidio's own interpreter),
    overlaps resolved as TuneLab resolves its own; scored on the types they cover."""
    import json
    import subprocess

    from tunelab.privacy.findings import Finding, resolve_overlaps

    if not python:
        return {"ran": False, "reason": "not run: pass --presidio-python PATH (a venv with presidio-analyzer)"}
    payload = json.dumps([s.text for s in samples])
    done = subprocess.run([python, str(BENCH / "presidio_side.py")], input=payload, capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode:
        return {"ran": False, "reason": f"presidio failed: {done.stderr.strip()[-300:]}"}
    answer = json.loads(done.stdout)
    found = [resolve_overlaps([Finding(t, a, b, sure, "presidio") for t, a, b, sure in row])
             for row in answer["findings"]]
    types = ("email", "phone", "card", "iban", "ip", "national_id")
    per_type = {t: row for t, row in score(samples, found, types).items() if t in types}
    recall = overall(per_type, types)
    by_lang = {lang: overall(score([s for s in samples if s.lang == lang],
                                   [f for s, f in zip(samples, found) if s.lang == lang], types), types)
               for lang in ("en_US", "zh_CN")}
    return {"ran": True, "version": answer["version"], "per_type": per_type, "overall_recall_covered": recall,
            "recall_by_language": by_lang,
            "summary": f"presidio-analyzer {answer['version']}: AnalyzerEngine cannot start offline (it downloads "
                       f"a spaCy model), so only its predefined pattern recognizers ran, without context words; "
                       f"recall over the six types they cover: {_fmt(recall)} "
                       f"(English tickets {_fmt(by_lang['en_US'])}, "
                       f"Chinese {_fmt(by_lang['zh_CN'])}: a number that touches a Chinese character has no word "
                       f"boundary for its patterns; it has no recognizer for the Chinese resident ID, and none "
                       f"for birth dates or addresses without spaCy)"}


REAL_SETS = (("banking77", "train.csv", "text", ","),
             ("twitter_financial_news_sentiment", "sent_train.csv", "text", ","),
             ("chnsenticorp", "train.tsv", "text_a", "\t"))


def scan_real_data() -> dict[str, Any]:
    """Findings per type on real public texts from ../shared/data (no labels: counts only, never the values)."""
    import csv
    from collections import Counter

    from tunelab.privacy import PATTERN_TYPES, RedactionPolicy, Redactor

    redactor = Redactor(RedactionPolicy(types=PATTERN_TYPES))
    out: dict[str, Any] = {}
    for name, file, column, delimiter in REAL_SETS:
        path = BENCH.parent.parent / "shared" / "data" / name / file
        if not path.is_file():
            continue
        with open(path, encoding="utf-8", newline="") as handle:
            texts = [row[column] for row in csv.DictReader(handle, delimiter=delimiter)]
        counts = Counter(f.type for found in redactor.find_many(texts) for f in found)
        out[name] = {"texts": len(texts), "findings": dict(sorted(counts.items()))}
    return out


def render(report: dict[str, Any]) -> str:
    m, presidio = report["machine"], report["presidio"]
    theirs = presidio.get("per_type", {})
    lines = [f"## Privacy: PII detection (`make bench-privacy`, {report['date']})", "",
             f"Command: `{report['command']}`. Machine: {m['cpu_model']}, {m['cpus']} CPUs. "
             f"{report['texts']} Faker support tickets (seed {report['seed']}; half en_US, half zh_CN), "
             f"{report['entities']} labelled entities; detection took {report['seconds']:.2f} s "
             f"({report['texts'] / report['seconds']:.0f} texts/s). A finding counts when it overlaps a labelled "
             f"entity of the same type.", "",
             "| type | labelled | detector | precision | recall | exact-span recall | F1 | Presidio P / R |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name, row in report["per_type"].items():
        by = _detector_of(name, report["covered_types"])
        other = theirs.get(name)
        versus = f"{_fmt(other['precision'])} / {_fmt(other['recall'])}" if other else "-"
        lines.append(f"| {name} | {row['gold']} | {by} | {_fmt(row['precision'])} | {_fmt(row['recall'])} "
                     f"| {_fmt(row['exact_recall'])} | {_fmt(row['f1'])} | {versus} |")
    targets = report["targets"]
    lines += ["", f"Overall recall: {_fmt(report['overall_recall_covered'])} over the covered types, "
                  f"{_fmt(report['overall_recall_all'])} over every labelled entity (names included). Targets: "
                  f"recall >= {TARGET_PATTERN_RECALL} for each checksum and pattern type "
                  f"({'met' if targets['pattern_recall_met'] else 'NOT met'}); person recall >= "
                  f"{TARGET_PERSON_RECALL} ({'met' if targets['person_met'] else 'NOT met'}"
                  + _short_by(report["per_type"]["person"]["recall"], TARGET_PERSON_RECALL)
                  + f"); overall recall >= {TARGET_OVERALL_RECALL} "
                  f"({'met' if targets['overall_met'] else 'NOT met'}"
                  + _short_by(report["overall_recall_all"], TARGET_OVERALL_RECALL)
                  + ("" if "person" in report["covered_types"] else ": person, organisation and location names need "
                     "an NER run, `make ner-model` or `--ner-model RUN`") + ").", "",
              *_names_by_language(report), *_runs(report.get("ner_runs") or []),
              *_model_table(report.get("ner_comparison") or {}),
              f"Presidio: {presidio.get('summary') or presidio.get('reason')}", "",
              f"Real texts, no labels (findings of the pattern types, counts only): {_real(report['real_data'])}. "
              "Inspected by hand: every ChnSentiCorp finding is contact data that reviewers posted (mobile and "
              "landline numbers, company hotlines, e-mail addresses, street addresses).", "",
              "Caveat: the detectors and this generator were written side by side, so the pattern types' numbers "
              "show that the formats Faker produces are covered, not how the detectors fare on real tickets."]
    return "\n".join(lines)


def _names_by_language(report: dict[str, Any]) -> list[str]:
    """Recall (precision) of the name types per ticket language, when an NER run was given."""
    if "person" not in report["covered_types"]:
        return []
    parts = [f"{lang}: " + ", ".join(f"{t} {_fmt(rows[t]['recall'])} ({_fmt(rows[t]['precision'])})"
                                     for t in NAME_TYPES)
             for lang, rows in report["names_by_language"].items()]
    return [f"Names by ticket language, recall (precision): {'; '.join(parts)}.", ""]


def _short_by(value: float | None, target: float) -> str:
    """`, short by 0.074` when `value` misses `target`; nothing when it meets it (or was not measured)."""
    return f", short by {target - value:.3f}" if value is not None and value < target else ""


def _runs(runs: list[dict[str, Any]]) -> list[str]:
    parts = [f"`{r['run']}` ({r['base_model']}, {r['steps']} steps of {r['batch_size']} sentences at peak lr "
             f"{r['lr']:g}, {_passes(r)} passes over {r['train_examples']:,} training sentences; CoNLL-2003 "
             f"English test entity F1 {_fmt(r['test_f1'])})" for r in runs]
    return [f"NER runs: {'; '.join(parts)}.", ""] if parts else []


def _passes(run: dict[str, Any]) -> str:
    if not (run["steps"] and run["batch_size"] and run["train_examples"]):
        return "?"
    return f"{run['steps'] * run['batch_size'] / run['train_examples']:.2f}"


def _model_table(compared: dict[str, Any]) -> list[str]:
    """Names per language, recall (precision), for each NER configuration, and the overall recall it gives."""
    if not compared:
        return []
    lines = ["| NER run(s) | ticket language | person R (P) | organisation R (P) | location R (P) "
             "| overall recall (all tickets) |",
             "|---|---|---:|---:|---:|---:|"]
    for name, row in compared.items():
        for lang, rows in row["names_by_language"].items():
            cells = " | ".join(f"{_fmt(rows[t]['recall'])} ({_fmt(rows[t]['precision'])})" for t in NAME_TYPES)
            lines.append(f"| {name} | {lang} | {cells} | {_fmt(row['overall_recall'])} |")
    return [*lines, ""]


def _real(scans: dict[str, Any]) -> str:
    if not scans:
        return "../shared/data is absent"
    return "; ".join(f"{name} {scan['texts']:,} texts: " +
                     (", ".join(f"{t} {n}" for t, n in scan["findings"].items()) or "none")
                     for name, scan in scans.items())


def _detector_of(name: str, covered: list[str]) -> str:
    if name not in covered:
        return "not covered (no NER run)"
    return "NER" if name in ("person", "organisation", "location") else "patterns"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def command_line(args: argparse.Namespace) -> str:
    """How to reproduce this run (Presidio's interpreter is a separate venv, not a TuneLab dependency)."""
    command = "make bench-privacy"
    if args.ner_model or args.ner_model_multilingual:
        command = "benchmarks/bench_privacy.py" + (f" --ner-model {args.ner_model}" if args.ner_model else "") + (
            f" --ner-model-multilingual {args.ner_model_multilingual}" if args.ner_model_multilingual else "")
    return f"PRESIDIO_PYTHON={args.presidio_python} {command}" if args.presidio_python else command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="tickets (half English, half Chinese)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--ner-model", default=None, help="a TuneLab NER run folder (optional; not trained here)")
    parser.add_argument("--ner-model-multilingual", default=None,
                        help="a multilingual NER run folder (make ner-model-multilingual) for texts outside the Latin "
                             "script; with --ner-model, each text goes to one of them, and each is also scored alone")
    parser.add_argument("--presidio-python", default=os.environ.get("PRESIDIO_PYTHON"),
                        help="python of a venv with presidio-analyzer, to run it side by side (optional)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave results/ and RESULTS.md alone")
    args = parser.parse_args(argv)
    samples = build_set(args.n, args.seed)
    found, covered, seconds = run_tunelab(samples, args.ner_model, args.ner_model_multilingual)
    from tunelab.privacy import PATTERN_TYPES, PII_TYPES

    per_type = score(samples, found, PII_TYPES)
    checks = [t for t in PATTERN_TYPES if per_type[t]["gold"]]
    report = {
        "bench": "privacy", "date": datetime.now(UTC).strftime("%Y-%m-%d"), "seed": args.seed,
        "command": command_line(args),
        "machine": bench_train.machine_info(), "texts": len(samples), "seconds": round(seconds, 3),
        "entities": sum(len(s.entities) for s in samples), "covered_types": list(covered), "per_type": per_type,
        "names_by_language": names_by_language(samples, found),
        "ner_comparison": compare_models(samples, args.ner_model, args.ner_model_multilingual),
        "ner_runs": [d for d in (describe_run(args.ner_model), describe_run(args.ner_model_multilingual)) if d],
        "overall_recall_covered": overall(per_type, covered), "overall_recall_all": overall(per_type, PII_TYPES),
        "targets": {"pattern_recall_met": all((per_type[t]["recall"] or 0) >= TARGET_PATTERN_RECALL for t in checks),
                    "person_met": (per_type["person"]["recall"] or 0) >= TARGET_PERSON_RECALL,
                    "overall_met": (overall(per_type, PII_TYPES) or 0) >= TARGET_OVERALL_RECALL},
        "presidio": run_presidio(samples, args.presidio_python), "real_data": scan_real_data()}
    section = render(report)
    print(section)
    if not args.no_write:
        bench_train.write_json_atomic(BENCH / "results" / "privacy.json", report)
        bench_train.update_results_md(BENCH / "RESULTS.md", "full", section, bench="bench-privacy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
