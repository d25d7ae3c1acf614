"""Plots write non-empty PNGs for small and large label sets; the Markdown report puts the weakest class first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunelab.evaluation import plots, render_report_md
from tunelab.evaluation.metrics import classification_report, multilabel_report, ner_report, reliability_bins

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)
    assert path.stat().st_mode & 0o044 == 0o044  # readable by group and others, unlike a raw mkstemp file
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("n_labels", [3, 77])
def test_plots_write_pngs(tmp_path: Path, n_labels: int) -> None:
    rng = np.random.default_rng(n_labels)
    labels = [f"label_{i}" for i in range(n_labels)]
    gold = list(rng.choice(labels, size=400))
    pred = [g if rng.random() < 0.6 else str(rng.choice(labels)) for g in gold]
    report = classification_report(gold, pred, labels)
    plots.plot_confusion_matrix(report.confusion_matrix, labels, tmp_path / "cm.png")
    plots.plot_confusion_matrix(report.confusion_matrix, labels, tmp_path / "cm_raw.png", normalise=False)
    plots.plot_per_class_f1({k: v["f1"] for k, v in report.to_dict()["per_class"].items()}, tmp_path / "f1.png")
    conf = rng.random(400)
    bins = reliability_bins(conf, (rng.random(400) < conf).astype(float))
    plots.plot_calibration(bins, 0.05, tmp_path / "cal.png")
    for name in ("cm.png", "cm_raw.png", "f1.png", "cal.png"):
        _assert_png(tmp_path / name)


def test_training_curves(tmp_path: Path) -> None:
    history = [{"step": s, "epoch": 0, "loss": 1.0 / s, "lr": 1e-4 * (1 - s / 20)} for s in range(1, 20)]
    history += [{"step": 10, "epoch": 0, "dev_metric": 0.6, "dev_metric_name": "accuracy"},
                {"step": 19, "epoch": 1, "dev_metric": 0.8, "dev_metric_name": "accuracy"}]
    plots.plot_training_curves(history, tmp_path / "curves.png")
    plots.plot_training_curves(history[:5], tmp_path / "loss_only.png")
    for name in ("curves.png", "loss_only.png"):
        _assert_png(tmp_path / name)


def test_plot_overwrites_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "f1.png"
    target.write_bytes(b"old")
    plots.plot_per_class_f1({"a": 0.5, "b": 0.9}, target)
    _assert_png(target)


def test_render_report_md_weakest_first() -> None:
    gold = ["good"] * 10 + ["bad"] * 10 + ["mid"] * 10
    pred = ["good"] * 10 + ["good"] * 8 + ["bad"] * 2 + ["mid"] * 6 + ["good"] * 4
    d = classification_report(gold, pred, ["good", "mid", "bad"]).to_dict()
    d["ece"] = 0.0421
    d["thresholds"] = {"good": 0.4}
    md = render_report_md("Intent — test", {"split": "test", "accuracy": d["accuracy"]}, d,
                          {"plots": ["confusion_matrix.png"]})
    assert md.startswith("## Intent — test")
    # F1: bad 4/12, good 20/32, mid 12/16 -> weakest first
    assert md.index("| bad |") < md.index("| good |") < md.index("| mid |")
    assert "0.0421" in md and "| micro |" in md and "| macro |" in md and "| weighted |" in md
    assert "### Decision thresholds" in md and "](confusion_matrix.png)" in md


def test_render_report_md_minimal() -> None:
    md = render_report_md("NER", {"f1": 0.5}, {"per_class": {}}, None)
    assert "## NER" in md and "| f1 | 0.5000 |" in md


def test_render_report_md_multilabel_and_ner_shapes() -> None:
    ml = multilabel_report([{"a"}, {"a", "b"}, set()], [{"a"}, {"b"}, {"b"}], ["a", "b"])
    d = ml.to_dict()
    d["thresholds"] = {"a": 0.5, "b": 0.35}
    md = render_report_md("Tags — dev", {"micro_f1": d["micro"]["f1"]}, d, None)
    assert "| samples |" in md and "| subset_accuracy |" in md and "| b | 0.3500 |" in md
    assert ml.per_class["a"].recall == 0.5 and ml.per_class["a"].precision == 1.0
    assert ml.micro == ml.table.micro and ml.labels == ("a", "b")
    ner = ner_report([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    md = render_report_md("NER — test", dict([ner.headline]), ner.to_dict(), {"plots": ["per_class_f1.png"]})
    # F1: LOC 0 and ORG 0 come before PER 1
    assert md.index("| LOC |") < md.index("| PER |") and md.index("| ORG |") < md.index("| PER |")
    assert "](per_class_f1.png)" in md and "| f1 | 0.5000 |" in md
