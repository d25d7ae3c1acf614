"""Multi-label report against scikit-learn and threshold tuning on a constructed case."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from tunelab.evaluation.metrics import binarize, multilabel_report, tune_thresholds

LABELS = ["a", "b", "c", "d", "e"]


def _random_sets(rng: np.random.Generator, n: int, names: list[str], p: float) -> list[set[str]]:
    return [{x for x in names if rng.random() < p} for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gold = _random_sets(rng, 40, LABELS[:4] + ["zzz"], 0.35)  # "e" never gold, "zzz" unknown
    pred = _random_sets(rng, 40, LABELS[:3] + ["e"], 0.4)  # "d" never predicted
    report = multilabel_report(gold, pred, LABELS)
    d = report.to_dict()
    g, p = binarize(gold, LABELS), binarize(pred, LABELS)
    for average in ("micro", "macro", "weighted", "samples"):
        pr, rc, f1, _ = precision_recall_fscore_support(g, p, average=average, zero_division=0)
        assert d[average] == pytest.approx({"precision": pr, "recall": rc, "f1": f1}, abs=1e-6)
    pr, rc, f1, support = precision_recall_fscore_support(g, p, average=None, zero_division=0)
    for i, name in enumerate(LABELS):
        assert d["per_class"][name] == pytest.approx(
            {"precision": pr[i], "recall": rc[i], "f1": f1[i], "support": support[i]}, abs=1e-6)
    assert report.headline == ("micro_f1", pytest.approx(f1_score(g, p, average="micro", zero_division=0)))
    assert d["subset_accuracy"] == pytest.approx(accuracy_score(g, p), abs=1e-6)
    assert "zzz" not in d["per_class"]


def _f1(probs: np.ndarray, gold: np.ndarray, thresholds: np.ndarray) -> float:
    return float(f1_score(gold, (probs >= thresholds).astype(int), average="macro", zero_division=0))


def test_tune_thresholds_beats_half() -> None:
    # label 0: positives score 0.3-0.4, negatives 0.05-0.2 -> cut between 0.2 and 0.3: 0.25
    # label 1: positives 0.9, negatives 0.6-0.7 -> cut between 0.7 and 0.9: 0.8 (0.5 calls everything positive)
    # (halfway between scores, never a score itself: float noise must not flip a decision)
    # label 2: no positives -> 0.5
    probs = np.array([[0.3, 0.9, 0.1], [0.4, 0.9, 0.2], [0.35, 0.95, 0.7],
                      [0.05, 0.6, 0.3], [0.2, 0.7, 0.9], [0.1, 0.65, 0.4]])
    gold = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    tuned = tune_thresholds(probs, gold)
    assert tuned.shape == (3,)
    assert tuned[0] == pytest.approx(0.25)
    assert tuned[1] == pytest.approx(0.8)
    assert tuned[2] == 0.5
    assert _f1(probs[:, :2], gold[:, :2], tuned[:2]) == 1.0
    assert _f1(probs[:, :2], gold[:, :2], np.full(2, 0.5)) < 1.0


def test_tune_thresholds_tie_prefers_closest_to_half() -> None:
    # every candidate from 0.2 to 0.8 separates perfectly; the candidate set includes 0.5 itself
    probs = np.array([[0.1], [0.2], [0.8], [0.9]])
    gold = np.array([[0], [0], [1], [1]])
    assert tune_thresholds(probs, gold)[0] == 0.5
    probs = np.array([[0.1], [0.45], [0.9], [0.7]])
    gold = np.array([[0], [1], [1], [1]])
    assert tune_thresholds(probs, gold)[0] == pytest.approx(0.275)  # halfway between 0.1 and 0.45


@pytest.mark.parametrize("seed", range(4))
def test_tuned_threshold_is_optimal_among_candidates(seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.random((50, 3)).round(2)
    gold = (rng.random((50, 3)) < 0.3).astype(int)
    tuned = tune_thresholds(probs, gold)
    for j in range(3):
        candidates = np.union1d(probs[:, j], [0.5])
        best = max(f1_score(gold[:, j], probs[:, j] >= t, zero_division=0) for t in candidates)
        got = f1_score(gold[:, j], probs[:, j] >= tuned[j], zero_division=0)
        assert got == pytest.approx(best)
