"""Time to a target metric on a side's test curve, and the training benchmark's samples/s split (benchmarks/)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from train_curve import CurvePoint, ratio, speed_factors, time_to_target  # noqa: E402


def point(elapsed: float, metric: float, epoch: float = 1.0) -> CurvePoint:
    return CurvePoint(elapsed_seconds=elapsed, metric=metric, epoch=epoch, step=int(epoch * 10), eval_seconds=1.0)


def test_time_to_target_is_the_first_evaluation_that_reaches_it():
    curve = [point(10.0, 0.40, 1), point(20.0, 0.55, 2), point(30.0, 0.52, 3), point(40.0, 0.60, 4)]
    assert time_to_target(curve, 0.50) == 20.0
    assert time_to_target(curve, 0.58) == 40.0
    assert time_to_target(curve, 0.30) == 10.0


def test_time_to_target_counts_a_point_exactly_at_the_target():
    # the target is the Trainer's own last point: its curve must reach it there, not "never"
    curve = [point(5.0, 0.7), point(9.5, 0.812345)]
    assert time_to_target(curve, 0.812345) == 9.5


def test_time_to_target_is_none_when_never_reached_or_no_curve():
    assert time_to_target([point(10.0, 0.40), point(20.0, 0.49999)], 0.50) is None
    assert time_to_target([], 0.50) is None


def test_time_to_target_orders_points_by_time_not_by_list_order():
    curve = [point(30.0, 0.9, 3), point(10.0, 0.2, 1), point(20.0, 0.8, 2)]
    assert time_to_target(curve, 0.75) == 20.0


def test_curve_point_round_trips_through_json():
    p = point(12.5, 0.4321, 2)
    assert CurvePoint.from_json(p.to_json()) == p


def test_ratio_guards_missing_and_zero_denominators():
    assert ratio(30.0, 10.0) == 3.0
    assert ratio(None, 10.0) is None
    assert ratio(10.0, None) is None
    assert ratio(10.0, 0.0) is None


def test_speed_factors_multiply_to_the_lead_over_the_defaults():
    f = speed_factors(tunelab=120.0, best=100.0, grouped_fp32=50.0, defaults=25.0, best_is_bf16=True)
    assert (f.grouping, f.precision, f.loop, f.total_vs_defaults) == (2.0, 2.0, 1.2, 4.8)
    assert f.grouping * f.precision * f.loop == pytest.approx(f.total_vs_defaults)


def test_speed_factors_without_a_bf16_side_put_precision_at_one():
    # a CPU without native bf16: the best Trainer side is the fp32 grouped one
    f = speed_factors(tunelab=90.0, best=100.0, grouped_fp32=None, defaults=50.0, best_is_bf16=False)
    assert (f.grouping, f.precision, f.loop, f.total_vs_defaults) == (2.0, 1.0, 0.9, 1.8)


def test_speed_factors_without_ablations_keep_only_the_loop():
    # --best-only on a bf16 CPU: no fp32 side, so the bf16 share is unknown, not 1
    f = speed_factors(tunelab=90.0, best=100.0, grouped_fp32=None, defaults=None, best_is_bf16=True)
    assert (f.grouping, f.precision, f.loop, f.total_vs_defaults) == (None, None, 0.9, None)


def test_dtype_probe_reports_the_precision_training_forwards_ran_in():
    import torch
    from train_sides import DtypeProbe

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    probe = DtypeProbe(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(torch.randn(3, 4))
    model.eval()
    model(torch.randn(3, 4))  # an fp32 evaluation is not training: not counted
    assert probe.precision() == "bf16"

    model.train()
    probe = DtypeProbe(model)
    model(torch.randn(3, 4))
    assert probe.precision() == "fp32"
    model(torch.randn(3, 4))  # precision() removed the hook: nothing more is recorded
    assert probe.seen == {"torch.float32"}


def test_dtype_probe_says_unknown_when_no_training_forward_ran():
    import torch
    from train_sides import DtypeProbe

    assert DtypeProbe(torch.nn.Linear(2, 2)).precision() == "unknown"
