"""Drift: a stable stream from the training distribution raises nothing; another data set's texts raise an alert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.loop.conftest import news_texts, support_texts
from tunelab.loop import twosample
from tunelab.loop.drift import REFERENCE_ARRAYS, REFERENCE_META, DriftThresholds, check_drift, run_reference


@pytest.fixture(scope="module")
def predictor(support_run: Path):
    from tunelab.inference.predictor import Predictor

    return Predictor.load(support_run)


def test_mmd_separates_shifted_gaussians_and_not_equal_ones() -> None:
    rng = np.random.default_rng(0)
    same = twosample.mmd_test(rng.normal(size=(80, 5)), rng.normal(size=(60, 5)), seed=1)
    moved = twosample.mmd_test(rng.normal(size=(80, 5)), rng.normal(0.8, 1.0, size=(60, 5)), seed=1)
    assert same.p_value is not None and same.p_value > 0.05
    assert moved.p_value is not None and moved.p_value < 0.01
    assert moved.statistic > same.statistic


def test_label_shift_and_psi() -> None:
    stable, psi_stable = twosample.label_shift_test(np.array([100, 100, 100]), np.array([33, 35, 32]))
    shifted, psi_shifted = twosample.label_shift_test(np.array([100, 100, 100]), np.array([90, 5, 5]))
    assert stable.p_value is not None and stable.p_value > 0.5 and psi_stable < 0.01
    assert shifted.p_value is not None and shifted.p_value < 1e-6 and psi_shifted > 0.5


def test_reference_is_cached_in_the_run_folder(predictor, support_run: Path) -> None:
    first = run_reference(predictor)
    assert (support_run / REFERENCE_ARRAYS).is_file() and (support_run / REFERENCE_META).is_file()
    again = run_reference(predictor)  # read back (no pickle), not rebuilt
    np.testing.assert_array_equal(first.embeddings, again.embeddings)
    assert first.labels == tuple(predictor.label_set.names) and len(first.tokens) <= 500


def test_stable_stream_raises_no_drift(predictor) -> None:
    stream = support_texts("support_test.csv")[:200]  # the same distribution, texts never trained on
    report = check_drift(predictor, stream, run_reference(predictor), model="support", version=1)
    assert report.verdict == "stable", [c for c in report.checks if c.drifted]
    assert {c.name for c in report.checks} == {"embedding_mmd", "text_length", "unknown_tokens", "confidence",
                                               "predicted_labels"}
    assert all(c.p_value is None or 0 <= c.p_value <= 1 for c in report.checks)


def test_shifted_stream_is_drift(predictor) -> None:
    stream = news_texts()  # another data set: news headlines with tickers, numbers, another vocabulary
    report = check_drift(predictor, stream, run_reference(predictor), model="support", version=1)
    assert report.verdict == "drift"
    drifted = {c.name for c in report.drifted}
    assert {"embedding_mmd", "text_length", "unknown_tokens"} <= drifted, report.checks


def test_too_small_a_window_gives_no_verdict(predictor) -> None:
    report = check_drift(predictor, news_texts()[:5], run_reference(predictor), limits=DriftThresholds())
    assert report.verdict == "insufficient data" and report.checks == ()


def test_an_older_reference_is_rebuilt_from_held_out_texts_or_kept_when_the_data_is_gone(predictor, support_run: Path,
                                                                                        tmp_path: Path) -> None:
    import json
    import shutil

    from tunelab.loop.drift import load_reference

    run_reference(predictor)
    meta = json.loads((support_run / REFERENCE_META).read_text(encoding="utf-8"))
    assert meta["source"] == "held-out" and meta["version"] == 2
    (support_run / REFERENCE_META).write_text(json.dumps({**meta, "version": 1, "source": "old"}), encoding="utf-8")
    rebuilt = run_reference(predictor)  # version 1: built again
    assert json.loads((support_run / REFERENCE_META).read_text(encoding="utf-8"))["version"] == 2
    np.testing.assert_array_equal(rebuilt.embeddings, load_reference(support_run).embeddings)

    copy = tmp_path / "run"
    shutil.copytree(support_run, copy)
    meta = json.loads((copy / REFERENCE_META).read_text(encoding="utf-8"))
    (copy / REFERENCE_META).write_text(json.dumps({**meta, "version": 1}), encoding="utf-8")
    config = (copy / "config.yaml").read_text(encoding="utf-8")
    (copy / "config.yaml").write_text(config.replace("support_train.csv", "moved-away.csv"), encoding="utf-8")

    class Moved:
        run_dir = copy

    kept = run_reference(Moved())  # the data is gone: the version-1 reference is still used, not an error
    np.testing.assert_array_equal(kept.embeddings, rebuilt.embeddings)
