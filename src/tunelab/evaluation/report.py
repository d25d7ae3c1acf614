"""Markdown rendering of an evaluation report: headline, averages, per-class table, ECE, thresholds, plots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AVERAGES = ("micro", "macro", "weighted", "samples")
HEADLINE_EXTRAS = ("accuracy", "subset_accuracy")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _headline(headline: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    rows = [[k, v] for k, v in headline.items()]
    rows += [[key, float(report[key])] for key in HEADLINE_EXTRAS if key in report and key not in headline]
    return _table(["metric", "value"], rows)


def _averages(report: Mapping[str, Any]) -> str:
    rows = [[name, float(report[name]["precision"]), float(report[name]["recall"]), float(report[name]["f1"])]
            for name in AVERAGES if isinstance(report.get(name), Mapping)]
    return "### Averages\n\n" + _table(["average", "precision", "recall", "f1"], rows) if rows else ""


def _per_class(report: Mapping[str, Any]) -> str:
    per_class = report.get("per_class") or {}
    if not per_class:
        return ""
    items = sorted(per_class.items(), key=lambda kv: (float(kv[1].get("f1", 0.0)), str(kv[0])))
    rows = [[name, float(s["precision"]), float(s["recall"]), float(s["f1"]), int(s["support"])]
            for name, s in items]
    body = _table(["label", "precision", "recall", "f1", "support"], rows)
    return "### Per class (weakest first)\n\n" + body


def _thresholds(report: Mapping[str, Any]) -> str:
    thresholds = report.get("thresholds")
    if not thresholds:
        return ""
    pairs = thresholds.items() if isinstance(thresholds, Mapping) else enumerate(thresholds)
    return "### Decision thresholds\n\n" + _table(["label", "threshold"], [[k, float(v)] for k, v in pairs])


def _plots(extra: Mapping[str, Any] | None) -> str:
    files = list((extra or {}).get("plots") or [])
    if not files:
        return ""
    links = [f"![{name.rsplit('.', 1)[0].replace('_', ' ')}]({name})" for name in files]
    return "### Plots\n\n" + "\n\n".join(links)


def render_report_md(title: str, headline: Mapping[str, Any], report_dict: Mapping[str, Any],
                     extra: Mapping[str, Any] | None = None) -> str:
    """One Markdown section (## title) for one evaluated split."""
    parts = [f"## {title}", _headline(headline, report_dict), _averages(report_dict), _per_class(report_dict)]
    if "ece" in report_dict:
        parts.append(f"Expected calibration error (ECE): **{float(report_dict['ece']):.4f}**")
    parts += [_thresholds(report_dict), _plots(extra)]
    return "\n\n".join(p for p in parts if p) + "\n"
