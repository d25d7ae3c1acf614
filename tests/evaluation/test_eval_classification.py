"""Classification report and calibration checked against scikit-learn and a hand-computed ECE."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from tunelab.evaluation.metrics import classification_report, expected_calibration_error, reliability_bins


def _sk(gold: list[str], pred: list[str], labels: list[str], average: str | None) -> tuple:
    return precision_recall_fscore_support(gold, pred, labels=labels, average=average, zero_division=0)


@pytest.mark.parametrize("seed", range(8))
def test_matches_sklearn_with_missing_and_unknown_classes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = [f"c{i}" for i in range(6)]
    gold = list(rng.choice(labels[:4] + ["unknown"], size=60))  # c4, c5 never gold; "unknown" not in labels
    pred = list(rng.choice(labels[:5], size=60))  # c5 never predicted
    report = classification_report(gold, pred, labels)
    d = report.to_dict()
    p, r, f, s = _sk(gold, pred, labels, None)
    for i, name in enumerate(labels):
        row = d["per_class"][name]
        assert row["precision"] == pytest.approx(p[i], abs=1e-6)
        assert row["recall"] == pytest.approx(r[i], abs=1e-6)
        assert row["f1"] == pytest.approx(f[i], abs=1e-6)
        assert row["support"] == s[i]
    for average in ("micro", "macro", "weighted"):
        p, r, f, _ = _sk(gold, pred, labels, average)
        assert d[average] == pytest.approx({"precision": p, "recall": r, "f1": f}, abs=1e-6)
    assert report.accuracy == pytest.approx(accuracy_score(gold, pred))
    assert report.headline == ("accuracy", report.accuracy)
    assert report.confusion_matrix == confusion_matrix(gold, pred, labels=labels).tolist()
    assert "unknown" not in d["per_class"]
    assert d["total_support"] == sum(1 for g in gold if g in labels)
    assert d["labels"] == labels
    json.dumps(d)


def test_empty_and_perfect() -> None:
    empty = classification_report([], [], ["a", "b"]).to_dict()
    assert empty["accuracy"] == 0.0 and empty["micro"]["f1"] == 0.0
    perfect = classification_report(["a", "b"], ["a", "b"], ["a", "b"])
    assert perfect.accuracy == 1.0 and perfect.to_dict()["macro"]["f1"] == 1.0


def test_ece_hand_computed() -> None:
    confidences = np.array([0.1, 0.3, 0.35, 0.9, 0.95, 1.0])
    correct = np.array([0, 1, 0, 1, 1, 0])
    # bins=2: [0, .5] holds .1, .3, .35 (mean .25, acc 1/3); (.5, 1] holds .9, .95, 1.0 (mean .95, acc 2/3)
    expected = 3 / 6 * abs(1 / 3 - 0.25) + 3 / 6 * abs(2 / 3 - 0.95)
    assert expected_calibration_error(confidences, correct, bins=2) == pytest.approx(expected)
    bins = reliability_bins(confidences, correct, bins=2)
    assert [b["count"] for b in bins] == [3, 3]
    assert bins[1]["confidence"] == pytest.approx(0.95, abs=1e-6)
    assert bins[0]["accuracy"] == pytest.approx(1 / 3, abs=1e-6)
    assert set(bins[0]) == {"lo", "hi", "confidence", "accuracy", "count"}
    json.dumps(bins)


def test_ece_edges_and_perfect_calibration() -> None:
    # 0.2 sits on a bin edge: it belongs to (0, 0.2], not (0.2, 0.4]
    bins = reliability_bins(np.array([0.2, 0.0]), np.array([1.0, 0.0]), bins=5)
    assert bins[0]["count"] == 2 and len(bins) == 5
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0
    conf = np.array([1.0, 1.0, 0.5, 0.5])
    assert expected_calibration_error(conf, np.array([1, 1, 1, 0]), bins=15) == pytest.approx(0.0)
