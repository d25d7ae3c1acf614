"""Out-of-scope scores on hand-made features and on the tiny built assistant: Mahalanobis, kNN, energy, the blend,
thresholds under a stated out-of-scope share, the share estimate, the statistics' roundtrip, the evidence."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tunelab.apps.assistant.calibrate import Scored, Target, calibrate_ood, route_labels, score_routes
from tunelab.apps.assistant.kb import OUT_OF_SCOPE
from tunelab.apps.assistant.ood import (
    Components,
    OodModel,
    compute_components,
    fit_combiner,
    load_ood_model,
    save_ood_model,
)
from tunelab.apps.assistant.prior import estimate_oos_share, separation
from tunelab.errors import ArtifactError
from tunelab.inference.outliers import energy, fit_stats, knn_distance, mahalanobis, relative_mahalanobis

OOS = OUT_OF_SCOPE


def clusters(n: int = 40, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Two intents in 8 dimensions, both spread along the first axis only (a shared covariance matters)."""
    rng = np.random.default_rng(seed)
    spread = np.array([3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    a = rng.normal(0, 1, (n, 8)) * spread + np.array([5, 0, 0, 0, 0, 0, 0, 0])
    b = rng.normal(0, 1, (n, 8)) * spread + np.array([0, 5, 0, 0, 0, 0, 0, 0])
    return np.vstack([a, b]).astype(np.float32), ["a"] * n + ["b"] * n


def test_mahalanobis_is_low_at_a_class_mean_and_high_far_away() -> None:
    x, y = clusters()
    stats = fit_stats(x, y)
    means = stats.means
    far = np.full((1, 8), 20.0, dtype=np.float32)
    d_mean, d_far = mahalanobis(stats, means), mahalanobis(stats, far)
    assert d_mean.max() < 1e-3 and d_far[0] > 100
    # along the intents' long axis a step of 3 is ordinary; across it (0.2 spread) the same step is far
    along = means[:1] + np.array([[3, 0, 0, 0, 0, 0, 0, 0]], dtype=np.float32)
    across = means[:1] + np.array([[0, 0, 3, 0, 0, 0, 0, 0]], dtype=np.float32)
    assert mahalanobis(stats, across)[0] > 10 * mahalanobis(stats, along)[0]


def test_knn_and_energy() -> None:
    x, y = clusters()
    stats = fit_stats(x, y, k=3)
    far = np.array([[0, 0, 0, 0, 0, 0, 0, 9]], dtype=np.float32)
    assert knn_distance(stats, x[:5]).max() < 0.05 < 0.5 < knn_distance(stats, far)[0]
    confident, flat = np.array([[10.0, 0.0, 0.0]]), np.array([[1.0, 1.0, 1.0]])
    assert energy(confident)[0] < energy(flat)[0]
    c = compute_components(stats, x[:2], np.vstack([confident, flat]), None)
    assert c.names == ("msp", "energy", "mahalanobis", "relative_mahalanobis", "knn", "nearest")
    # the nearest row of a training question is itself; its 3rd nearest is farther
    assert np.allclose(c.values["nearest"], 0.0, atol=1e-5) and (c.values["knn"] > c.values["nearest"]).all()
    assert c.values["msp"][0] < c.values["msp"][1]


def test_relative_mahalanobis_discounts_what_the_whole_training_set_shares() -> None:
    """Two points equally far (plain Mahalanobis) from their intent: one stepped along the axis on which the intents
    differ from each other, one off it, where the training data as a whole is as narrow as each intent. The
    background Gaussian finds the second as unusual as the intent does and discounts it; not the first."""
    x, y = clusters()
    stats = fit_stats(x, y)
    mean_a = stats.means[:1].astype(np.float64)
    between = np.array([[-5.0, 5.0, 0, 0, 0, 0, 0, 0]]) / np.sqrt(50)  # from intent a towards intent b
    off = np.array([[0, 0, 1.0, 0, 0, 0, 0, 0]])  # a within-intent direction, equally narrow
    scale = [np.sqrt(8.0 / float((d @ stats.precision @ d.T)[0, 0])) for d in (between, off)]
    toward, away = [(mean_a + s * d).astype(np.float32) for s, d in zip(scale, (between, off))]
    plain = mahalanobis(stats, np.vstack([toward, away]))
    assert plain == pytest.approx([8.0, 8.0], rel=1e-3)
    relative = relative_mahalanobis(stats, np.vstack([toward, away]))
    assert relative[0] > relative[1] + 2.0
    legacy = replace(stats, background_mean=None, background_precision=None)
    assert "relative_mahalanobis" not in compute_components(legacy, x[:2], None, None).names
    with pytest.raises(ArtifactError, match="background"):
        relative_mahalanobis(legacy, x[:2])


def test_recentring_moves_only_the_named_scores() -> None:
    is_oos = np.array([False, False, True])
    components = Components({"mahalanobis": np.array([1.0, 3.0, 9.0]), "faq": np.array([0.1, 0.3, 0.9])})
    combiner = fit_combiner(components, is_oos)
    assert combiner.center.tolist() == pytest.approx([2.0, 0.2])  # the in-scope rows' mean
    other = Components({"mahalanobis": np.array([11.0, 13.0]), "faq": np.array([5.0, 5.0])})
    moved = combiner.recentred(other, ("mahalanobis",))
    assert moved.center.tolist() == pytest.approx([12.0, 0.2]) and moved.scale[1] == combiner.scale[1]
    shifted = Components({"mahalanobis": components.values["mahalanobis"] + 10, "faq": components.values["faq"]})
    np.testing.assert_allclose(moved.score(shifted), combiner.score(components), rtol=1e-6)


def test_the_blend_separates_better_than_a_noisy_part() -> None:
    rng = np.random.default_rng(1)
    is_oos = np.r_[np.zeros(200), np.ones(100)].astype(bool)
    good = is_oos * 2.0 + rng.normal(0, 1, 300)
    noise = rng.normal(0, 1, 300)
    components = Components({"mahalanobis": good.astype(np.float32), "knn": noise.astype(np.float32)})
    combiner = fit_combiner(components, is_oos)
    assert combiner.weights[0] > 5 * abs(combiner.weights[1])
    assert separation(combiner.score(components), is_oos).auroc >= separation(noise, is_oos).auroc + 0.3


def test_separation_matches_sklearn() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.random(500) < 0.2
    s = y + rng.normal(0, 1, 500)
    m = separation(s, y)
    assert m.auroc == pytest.approx(roc_auc_score(y, s)) and m.auprc == pytest.approx(average_precision_score(y, s))
    assert separation(np.r_[np.zeros(10), np.ones(10)], np.r_[np.zeros(10), np.ones(10)].astype(bool)).fpr_at_95 == 0


def overlapping(n_in: int = 300, n_oos: int = 300, seed: int = 3) -> tuple[Scored, list[str]]:
    rng = np.random.default_rng(seed)
    ood = np.r_[rng.normal(0, 1, n_in), rng.normal(2, 1, n_oos)]
    n = n_in + n_oos
    scored = Scored(np.array(["a"] * n, dtype=object), np.ones(n), np.array([""] * n, dtype=object),
                    np.full(n, -np.inf), ood)
    return scored, ["a"] * n_in + [OOS] * n_oos


def test_precision_depends_on_the_stated_share() -> None:
    scored, gold = overlapping()
    target = Target("precision", 0.8)
    balanced = calibrate_ood(scored, gold, target)  # the split's own share: 50% out of scope
    rare = calibrate_ood(scored, gold, target, oos_share=0.1)
    assert balanced.target_met and rare.target_met and rare.oos_share == 0.1
    # fewer out-of-scope questions in traffic: the same precision needs a stricter threshold, so less recall
    assert rare.thresholds.ood > balanced.thresholds.ood
    assert rare.metrics.oos_recall < balanced.metrics.oos_recall
    plain = score_routes(route_labels(scored, balanced.thresholds), gold)
    reweighted = score_routes(route_labels(scored, balanced.thresholds), gold, oos_share=0.1)
    assert reweighted.oos_recall == plain.oos_recall and reweighted.oos_precision < plain.oos_precision
    # reweighting to the split's own share changes nothing
    assert score_routes(route_labels(scored, balanced.thresholds), gold, oos_share=0.5) == plain


def test_recall_target_keeps_recall_and_answers_in_scope_questions() -> None:
    scored, gold = overlapping()
    result = calibrate_ood(scored, gold, Target("recall", 0.8), oos_share=0.13)
    assert result.metrics.oos_recall >= 0.8 and result.metrics.in_scope_accuracy > 0.5
    labels = route_labels(scored, result.thresholds)
    assert set(labels) == {"a", OOS}


@pytest.mark.parametrize("share", [0.05, 0.13, 0.4])
def test_share_estimate_from_unlabelled_scores(share: float) -> None:
    rng = np.random.default_rng(4)
    calib_in, calib_oos = rng.normal(0, 1, 2000), rng.normal(3, 1, 800)
    n_oos = int(5000 * share)
    traffic = np.r_[rng.normal(0, 1, 5000 - n_oos), rng.normal(3, 1, n_oos)]
    assert estimate_oos_share(traffic, calib_in, calib_oos) == pytest.approx(share, abs=0.02)


def test_model_roundtrip_through_a_folder(tmp_path: Path) -> None:
    x, y = clusters()
    stats = fit_stats(x, y)
    components = compute_components(stats, x, np.zeros((len(x), 2), dtype=np.float32), None)
    model = OodModel("combined", stats, fit_combiner(components, np.arange(len(x)) % 2 == 0))
    save_ood_model(tmp_path, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ood.json", "ood_stats.json", "ood_stats.safetensors"]
    back = load_ood_model(tmp_path)
    assert back is not None and back.method == "combined" and back.stats is not None
    assert back.stats.labels == ("a", "b") and back.stats.k == stats.k and back.stats.pooling == "head"
    np.testing.assert_allclose(back.stats.precision, stats.precision)
    assert back.stats.background_precision is not None and stats.background_precision is not None
    np.testing.assert_allclose(back.stats.background_precision, stats.background_precision)
    np.testing.assert_allclose(back.decision(components), model.decision(components), rtol=1e-6)
    assert load_ood_model(tmp_path / "nothing-here") is None


def test_built_assistant_stores_statistics_and_shows_components(built: Path) -> None:
    from tunelab.apps.assistant.router import Assistant

    assert (built / "ood.json").is_file() and (built / "ood_stats.safetensors").is_file()
    assert not list(built.rglob("*.pkl")) and not list(built.rglob("*.pickle"))
    assistant = Assistant.load(built)
    assert assistant.ood is not None and assistant.ood.stats is not None
    assert set(assistant.ood.stats.labels) == {i.name for i in assistant.kb.intents}
    assert assistant.ood.stats.pooling == "mean"  # the distance scores use the last layer's token mean
    assert assistant.thresholds.ood is not None
    for answer in assistant.answer(["hello world", "please refund my order", "zebra quantum violin"]):
        ood = answer.evidence["out_of_scope"]
        assert ood["method"] == "combined" and ood["threshold"] == assistant.thresholds.ood
        assert set(ood["components"]) == {"msp", "energy", "mahalanobis", "relative_mahalanobis", "knn",
                                            "nearest", "faq"}
        assert (answer.route == "handoff") == (ood["score"] >= ood["threshold"])


def test_features_match_the_predictions(built: Path) -> None:
    from tunelab.inference import Predictor

    predictor = Predictor.load(built / "classifier")
    texts = ["hello world", "where is my parcel", "a"]
    features, logits = predictor.features(texts)
    assert features.shape[0] == 3 and logits.shape == (3, len(predictor.labels))
    probs = predictor.predict_proba(texts)
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    expected = shifted / shifted.sum(1, keepdims=True)
    for row, p in zip(expected, probs):
        np.testing.assert_allclose(row, [p[name] for name in predictor.labels], atol=1e-5)
    single, _ = predictor.features(texts[1:2])
    np.testing.assert_allclose(single[0], features[1], atol=1e-5)  # batch equals single
    mean, mean_logits = predictor.features(texts, pooling="mean")
    np.testing.assert_allclose(mean_logits, logits, atol=1e-5)
    assert mean.shape == features.shape and not np.allclose(mean, features, atol=1e-3)
    np.testing.assert_allclose(predictor.features(texts[1:2], pooling="mean")[0][0], mean[1], atol=1e-5)


def test_mean_pooling_is_the_last_layers_token_mean(built: Path) -> None:
    import torch

    from tunelab.errors import UsageError
    from tunelab.inference import Predictor

    predictor = Predictor.load(built / "classifier")
    text = "where is my parcel please"
    mean, _ = predictor.features([text], pooling="mean")
    encoded = predictor.tokenizer(text, return_tensors="pt", truncation=True)
    with torch.no_grad():
        hidden = predictor._torch_model()(**encoded, output_hidden_states=True).hidden_states[-1][0]
    np.testing.assert_allclose(mean[0], hidden.float().mean(0).numpy(), atol=1e-4)
    with pytest.raises(UsageError, match="pooling"):
        predictor.features([text], pooling="max")


def test_statistics_saved_before_pooling_and_background_still_load(tmp_path: Path) -> None:
    from tunelab.inference.outliers import load_stats, save_stats

    x, y = clusters()
    stats = replace(fit_stats(x, y), background_mean=None, background_precision=None)
    save_stats(tmp_path, stats)
    meta = json.loads((tmp_path / "ood_stats.json").read_text())
    del meta["pooling"]
    (tmp_path / "ood_stats.json").write_text(json.dumps(meta))
    back = load_stats(tmp_path)
    assert back.pooling == "head" and back.background_mean is None
    assert "relative_mahalanobis" not in compute_components(back, x[:2], None, None).names
    (tmp_path / "ood_stats.json").write_text(json.dumps({**meta, "pooling": "cls"}))
    with pytest.raises(ArtifactError, match="pooling"):
        load_stats(tmp_path)


def test_build_with_a_chosen_score_and_a_share_estimated_from_traffic(tmp_path: Path, tiny_model: Path,
                                                                       kb_file: Path) -> None:
    from tests.apps.assistant.conftest import tiny_options
    from tunelab.apps.assistant.build import run_build
    from tunelab.apps.assistant.router import Assistant

    traffic = ("please refund my order", "where is my parcel", "zebra quantum violin", "hello world")
    summary = run_build(kb_file, tmp_path / "m", tiny_options(tiny_model, ood_method="mahalanobis", traffic=traffic))
    share = summary.manifest.calibration["oos_share"]
    assert share is not None and 0 < share < 1
    assistant = Assistant.load(tmp_path / "m")
    assert assistant.ood is not None and assistant.ood.method == "mahalanobis"
    answer = assistant.answer(["please refund my order"])[0]
    ood = answer.evidence["out_of_scope"]
    c = assistant.ood.combiner  # one score decides, standardised by its in-scope mean and spread
    j = c.names.index("mahalanobis")
    assert ood["score"] == pytest.approx((ood["components"]["mahalanobis"] - c.center[j]) / c.scale[j], abs=1e-3)
    legacy = run_build(kb_file, tmp_path / "t", tiny_options(tiny_model, ood_method="thresholds", oos_share=0.2))
    assert "ood" not in legacy.manifest.thresholds and not (tmp_path / "t" / "ood.json").exists()
    assert "out_of_scope" not in Assistant.load(tmp_path / "t").answer(["hello world"])[0].evidence


def test_cli_reports_scores_and_rejects_bad_options(built: Path, tmp_path: Path, kb_file: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import invoke_cli

    data = tmp_path / "eval.csv"
    data.write_text("text,label\nhello world,hello\nwhere is my parcel,shipping\nzebra,out_of_scope\n"
                    "violin quantum,out_of_scope\n")
    code, out, _ = invoke_cli(["assistant", "eval", str(built), "--data", str(data)], monkeypatch, capsys)
    assert code == 0 and "AUROC" in out and "mahalanobis" in out and "out-of-scope score >=" in out
    code, out, _ = invoke_cli(["assistant", "eval", str(built), "--data", str(data), "--json", "--oos-share", "0.1"],
                              monkeypatch, capsys)
    result = json.loads(out)
    assert code == 0 and result["oos_share"] == 0.1 and set(result["detection"]) >= {"decision", "knn"}
    for args in (["eval", str(built), "--data", str(data), "--oos-share", "1.5"],
                 ["build", str(kb_file), "--name", "x", "-o", str(tmp_path / "o"), "--no-register",
                  "--no-handoffs", "--ood-score", "tea-leaves"],
                 ["build", str(kb_file), "--name", "x", "-o", str(tmp_path / "o"), "--no-register",
                  "--no-handoffs", "--oos-share", "0"],
                 ["build", str(kb_file), "--name", "x", "-o", str(tmp_path / "o"), "--no-register",
                  "--no-handoffs", "--oos-training", "sometimes"]):
        code, _, err = invoke_cli(["assistant", *args], monkeypatch, capsys)
        assert code == 2 and ("oos-share" in err or "tea-leaves" in err or "oos-training" in err), err
        assert not (tmp_path / "o").exists()


def test_the_blend_keeps_weights_non_negative() -> None:
    """A score that only helps through a negative weight (a correlated copy) is dropped, not subtracted."""
    rng = np.random.default_rng(5)
    is_oos = np.r_[np.zeros(300), np.ones(300)].astype(bool)
    shared = rng.normal(0, 1, 600)
    good = is_oos * 1.5 + shared
    nuisance = shared + rng.normal(0, 0.1, 600)  # no signal of its own; with weight < 0 it cancels `shared`
    combiner = fit_combiner(Components({"mahalanobis": good, "knn": nuisance}), is_oos)
    assert (combiner.weights >= 0).all() and combiner.weights[1] == 0 and combiner.weights[0] > 0
