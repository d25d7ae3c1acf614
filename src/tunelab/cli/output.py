"""How the CLI prints: summaries, metric tables, prediction files, run lists."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from tunelab.errors import UsageError
from tunelab.recipes.outputs import format_per_class


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def show_train_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        echo(json.dumps({"run_dir": str(summary.run_dir), "metrics": summary.manifest.metrics,
                         "timings": summary.manifest.timings, "warnings": list(summary.warnings)}, indent=2))
        return
    echo(f"run saved: {summary.run_dir}")
    for split, values in summary.manifest.metrics.items():
        echo("  " + split + ": " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    t = summary.manifest.timings
    mfu = (f", {t['model_gflops_per_second']} GFLOP/s = {t['mfu']:.1%} of the measured {t['peak_dtype']} matmul "
           f"peak ({t['matmul_peak_gflops_per_second']} GFLOP/s)" if "mfu" in t else "")
    echo(f"  training: {t.get('train_seconds')} s, {t.get('samples_per_second')} samples/s{mfu}")
    echo(f"  report: {summary.run_dir / 'report.md'}")


def show_evaluation(evaluation: Any, folder: Path, as_json: bool) -> None:
    if as_json:
        echo(json.dumps(evaluation.report, indent=2, ensure_ascii=False))
        return
    echo(f"{evaluation.metric_name}: {evaluation.metric:.4f} on {len(evaluation.predictions)} examples")
    echo(format_per_class(evaluation.report))
    echo(f"report: {folder / 'report.md'}")


def read_texts(run: str | None, input_file: str | None, texts: list[str] | None,
               text_column: str | None) -> list[str]:
    if texts:
        return list(texts)
    if input_file:
        from tunelab.config import DataConfig
        from tunelab.data import read_examples
        from tunelab.recipes.evaluate import data_config_for

        if run:
            config = data_config_for(Path(run), text_column=text_column, task="classification")
        else:
            config = DataConfig(text_column=text_column or "text")
        return [e.text for e in read_examples(Path(input_file), config, labeled=False)]  # type: ignore[union-attr]
    if sys.stdin.isatty():
        raise UsageError("no input: give a file, --text, or pipe texts on stdin (one per line)")
    lines = [line.rstrip("\n") for line in sys.stdin]
    return [line for line in lines if line.strip()]


def write_predictions(texts: list[str], predictions: list[Any], path: str | None, fmt: str) -> None:
    """Local predictions (dataclasses) as JSONL or CSV."""
    from tunelab.inference.serialize import prediction_to_dict

    write_prediction_dicts(texts, [prediction_to_dict(p) for p in predictions], path, fmt)


def write_served(texts: list[str], served: list[Any], path: str | None, fmt: str) -> None:
    """Predictions from a server (SDK results, with ids) as JSONL or CSV."""
    dicts = [p.model_dump(exclude_none=True) for p in served]
    write_prediction_dicts(texts, dicts, path, fmt)


def write_prediction_dicts(texts: list[str], dicts: list[dict[str, Any]], path: str | None, fmt: str) -> None:
    from tunelab.data.spreadsheet import safe_cell
    from tunelab.inference.serialize import dict_to_row

    if path and path.endswith(".csv"):
        fmt = "csv"
    if fmt not in ("jsonl", "csv"):
        raise UsageError("--out-format must be jsonl or csv")
    handle = open(path, "w", encoding="utf-8", newline="") if path else sys.stdout
    try:
        if fmt == "jsonl":
            for text, data in zip(texts, dicts):
                handle.write(json.dumps({"text": text, **data}, ensure_ascii=False) + "\n")
        else:
            rows = [{k: safe_cell(v) for k, v in dict_to_row(t, d).items()} for t, d in zip(texts, dicts)]
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["text"])
            writer.writeheader()
            writer.writerows(rows)
    finally:
        if path:
            handle.close()


def show_runs(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        echo("no runs found")
        return
    echo(f"{'run':<28}{'status':<12}{'task':<16}{'method':<9}{'dev':>8}{'test':>8}  created")
    for r in rows:
        echo(f"{r['name'][:27]:<28}{r['status']:<12}{r.get('task') or '-':<16}{r.get('method') or '-':<9}"
             f"{_fmt(r.get('dev')):>8}{_fmt(r.get('test')):>8}  {r.get('created_at') or ''}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
