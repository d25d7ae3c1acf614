"""Threshold calibration and the routing/ranking metrics, on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.apps.assistant.calibrate import NEVER, Scored, Target, Thresholds, calibrate, route_labels, score_routes
from tunelab.apps.assistant.evaluation import average_precision, rank_of, reciprocal_rank
from tunelab.apps.assistant.kb import OUT_OF_SCOPE
from tunelab.errors import UsageError

OOS = OUT_OF_SCOPE


def scored(rows: list[tuple[str, float, str, float]]) -> Scored:
    return Scored(np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows]),
                  np.array([r[2] for r in rows], dtype=object), np.array([r[3] for r in rows]))


# in-scope intent questions have high probabilities, FAQ questions high similarity, OOS low both
ROWS = [("refund", 0.95, "hours", 0.2, "refund"), ("refund", 0.9, "hours", 0.1, "refund"),
        ("shipping", 0.85, "hours", 0.3, "shipping"), ("shipping", 0.55, "hours", 0.2, "shipping"),
        ("refund", 0.3, "hours", 0.92, "hours"), ("shipping", 0.35, "hours", 0.88, "hours"),
        ("refund", 0.5, "hours", 0.4, OOS), ("shipping", 0.4, "hours", 0.5, OOS),
        ("refund", 0.6, "hours", 0.3, OOS), ("shipping", 0.2, "hours", 0.6, OOS)]


def data() -> tuple[Scored, list[str]]:
    return scored([r[:4] for r in ROWS]), [r[4] for r in ROWS]


def test_routing_order_intent_then_faq_then_handoff() -> None:
    s, gold = data()
    labels = route_labels(s, Thresholds(0.8, 0.85))
    assert list(labels[:3]) == ["refund", "refund", "shipping"]
    assert labels[3] == OOS and list(labels[4:6]) == ["hours", "hours"] and set(labels[6:]) == {OOS}
    m = score_routes(labels, gold)
    assert m.in_scope_accuracy == pytest.approx(5 / 6)
    assert m.oos_precision == pytest.approx(4 / 5) and m.oos_recall == 1.0
    assert route_labels(s, Thresholds(NEVER, NEVER)).tolist() == [OOS] * len(ROWS)


def test_recall_target_maximises_in_scope_accuracy() -> None:
    s, gold = data()
    result = calibrate(s, gold, Target("recall", 0.75))
    assert result.target_met and result.metrics.oos_recall >= 0.75
    # 0.6 (OOS) sits above 0.55 (in scope): with 3/4 recall every in-scope question can be answered
    assert result.metrics.in_scope_accuracy == 1.0
    strict = calibrate(s, gold, Target("recall", 1.0))
    assert strict.metrics.oos_recall == 1.0 and strict.metrics.in_scope_accuracy == pytest.approx(5 / 6)


def test_precision_target_and_unreachable_target() -> None:
    s, gold = data()
    result = calibrate(s, gold, Target("precision", 1.0))
    assert result.target_met and result.metrics.oos_precision == 1.0 and result.metrics.oos_recall == 0.75
    all_oos = scored([("refund", 0.9, "hours", 0.9)] * 2 + [("refund", 0.9, "hours", 0.9)] * 2)
    missed = calibrate(all_oos, ["refund", "refund", OOS, OOS], Target("precision", 0.9))
    assert not missed.target_met
    with pytest.raises(UsageError):
        calibrate(s, [g for g in gold if g != OOS] + ["refund"] * 4, Target())


def test_target_parse() -> None:
    assert Target.parse("oos_precision=0.9") == Target("precision", 0.9)
    for bad in ("recall", "recall=2", "accuracy=0.5", "recall=x"):
        with pytest.raises(UsageError):
            Target.parse(bad)


def test_ranking_metrics() -> None:
    assert average_precision([0.9, 0.8, 0.7], [False, True, True]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert reciprocal_rank([0.1, 0.8, 0.7], [True, False, False]) == pytest.approx(1 / 3)
    assert average_precision([0.5], [False]) == 0.0
    assert rank_of(np.array([0.2, 0.9, 0.2]), 0) == 3  # ties count against the gold item
    assert rank_of(np.array([0.2, 0.9, 0.1]), 1) == 1
