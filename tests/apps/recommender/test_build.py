"""The whole recommender on a tiny random BERT: CLI build and eval, bad files, resume, cold start, exclusion,
filters, ANN against exact search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.apps.recommender.conftest import build_args
from tests.conftest import invoke_cli
from tunelab.apps.recommender.recommender import Recommender
from tunelab.apps.recommender.retrieval import ItemIndex


def test_build_writes_table_split_and_state(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    table = manifest["evaluation"]
    assert set(table) == {"popularity", "item-knn", "ease", "als", "bpr", "two-tower text", "hybrid"}
    assert table["hybrid"]["users"] == 30  # every user's last positive is test
    split = (built / "split.csv").read_text().splitlines()
    assert split[0] == "user_id,item_id,timestamp,part" and sum(line.endswith(",test") for line in split) == 30
    assert manifest["counts"]["train_steps"] == 6
    choice = manifest["blender_choice"]  # the served blender is never worse on validation than a signal alone
    ndcg = choice["validation_ndcg"]
    assert ndcg[choice["chosen"]] >= max(ndcg["text"], ndcg["collaborative"], ndcg["popularity"])
    assert manifest["blender"]["per_user"] is True


def test_eval_prints_the_table(built: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke_cli(["recommend", "eval", str(built)], monkeypatch, capsys)
    assert result.code == 0 and "hybrid" in result.out and "NDCG@10" in result.out


def test_eval_against_a_given_test_file(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "test.csv").write_text("user_id,item_id,rating\nu0,i07,5\nnobody,i00,5\n")
    result = invoke_cli(["recommend", "eval", str(built), "--test", str(tmp_path / "test.csv"), "--json"],
                        monkeypatch, capsys)
    assert result.code == 0, result.err
    assert json.loads(result.out)["hybrid"]["users"] == 1  # the unknown user is left out


def test_bad_files_exit_2_and_build_nothing(shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,rating,timestamp\nu1,i00,5,1\nu1,nope,5,2\nu2,i01,4,soon\n")
    args = build_args(shop, tmp_path / "out")
    args[args.index("--interactions") + 1] = str(bad)
    result = invoke_cli(args, monkeypatch, capsys)
    assert result.code == 2
    assert f"{bad}:3 [item_id]: unknown item 'nope'" in result.err
    assert f"{bad}:4 [timestamp]: unparsable timestamp 'soon'" in result.err
    assert not (tmp_path / "out").exists()


def test_resume_continues_to_the_same_weights(shop: Path, tmp_path: Path) -> None:
    """4 steps straight == 2 steps, a crash (the step-4 checkpoint lost), then a resume from step 2; the history
    table (encoded at step 0, again at step 3) comes back from the checkpoint, not encoded anew at the resume."""
    import shutil

    from tunelab.apps.assistant.index import SentenceEncoder
    from tunelab.apps.recommender.towers import NextItemExamples
    from tunelab.apps.recommender.train import TowerConfig, train
    from tunelab.training.precision import Precision

    texts = tuple(f"film {j} {g}" for g in ("space", "love") for j in range(6))
    users = np.repeat(np.arange(4), 6)
    items = np.concatenate([np.arange(6), np.arange(6), np.arange(6, 12), np.arange(6, 12)])
    examples = NextItemExamples.build(users, items, np.tile(np.arange(6.0), 4), width=3)
    cfg = TowerConfig(batch_size=4, lr=1e-3, max_steps=4, checkpoint_every=2, refresh_every=3)
    weights = []
    for name, crash in (("straight", False), ("crashed", True)):
        encoder = SentenceEncoder.load(shop / "tiny")
        run = tmp_path / name
        train(encoder.model, encoder.tokenizer, texts, examples, cfg, run, precision=Precision("cpu", "fp32"),
              show_progress=False)
        if crash:
            shutil.rmtree(run / "checkpoints" / "step-00000004")
            encoder = SentenceEncoder.load(shop / "tiny")
            state = train(encoder.model, encoder.tokenizer, texts, examples, cfg, run,
                          precision=Precision("cpu", "fp32"), resume=True, show_progress=False)
            assert state.global_step == 4 and [h["step"] for h in state.history] == [1, 2, 3, 4]
        weights.append({k: v.detach().clone() for k, v in encoder.model.state_dict().items()})
    assert all(np.allclose(weights[0][k].numpy(), weights[1][k].numpy(), atol=1e-6) for k in weights[0])


def test_recommendations_exclude_seen_and_carry_reasons(built: Path) -> None:
    recommender = Recommender.load(built)
    seen = {recommender.item_ids[i] for i in recommender.seen("u0")}
    found = recommender.for_user("u0", k=5)
    assert len(found) == 5 and not seen & {r.item_id for r in found}
    assert all(r.because_of in seen for r in found)
    assert [c.signal for c in found[0].contributions] == ["text", "collaborative", "popularity", "freshness",
                                                         "cold", "cold text"]
    assert found[0].score == pytest.approx(sum(c.value for c in found[0].contributions), abs=1e-3)
    with_seen = recommender.for_user("u0", k=32, exclude_seen=False)
    assert seen <= {r.item_id for r in with_seen}


def test_filters_on_item_fields(built: Path) -> None:
    found = Recommender.load(built).for_user("u0", k=5, filters={"genres": "war"})
    assert found and all(r.item_id.startswith("i2") for r in found)


def test_cold_start_new_item_and_new_user(built: Path) -> None:
    recommender = Recommender.load(built)
    recommender.add_items([("fresh", recommender.texts[0], {"genres": "space"})])
    assert recommender.similar(recommender.item_ids[0], k=1)[0].item_id == "fresh"  # same text: same vector
    liked = recommender.for_liked(["i00", "i01"], k=3)
    assert len(liked) == 3 and not {"i00", "i01"} & {r.item_id for r in liked}
    assert len(recommender.for_query("space alien", k=4)) == 4


def test_ann_agrees_with_exact_search() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = ItemIndex.build(vectors, threshold=10**9)
    ann = ItemIndex.build(vectors, threshold=100, nlist=8, nprobe=8)  # every list probed: must equal exact
    assert ann.ann is not None
    allowed = np.ones(2000, dtype=bool)
    allowed[::3] = False
    for query in vectors[:20]:
        assert ann.search(query, 10, allowed)[0].tolist() == exact.search(query, 10, allowed)[0].tolist()


def test_large_catalogue_candidates_come_from_precomputed_pools() -> None:
    """With an approximate index the blender scores three pools: text neighbours, the best allowed items by
    popularity and freshness (a precomputed order, read only as far as needed), and collaborative neighbours (an
    ANN index over the item factors). They match the exact pools, and the ranking matches a full pass over them."""
    from tunelab.apps.recommender.blend import Blender
    from tunelab.apps.recommender.engine import CANDIDATES, Profile, Signals, first_allowed, top_rows

    rng = np.random.default_rng(1)
    n = 3000
    vectors = rng.normal(size=(n, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    collab = rng.normal(size=(n, 8)).astype(np.float32)
    blender = Blender(np.array([1.0, 0.8, 0.5, 0.3, -0.2, 0.1]), np.zeros(6), np.ones(6))
    signals = Signals(ItemIndex.build(vectors, threshold=100, nlist=8, nprobe=8), collab,
                      rng.exponential(size=n), -rng.exponential(size=n), blender)
    allowed = np.ones(n, dtype=bool)
    allowed[rng.choice(n, 900, replace=False)] = False
    prior = 0.5 * signals.popularity + 0.3 * signals.freshness
    exact_prior = top_rows(np.where(allowed, prior, -np.inf), CANDIDATES)
    assert sorted(first_allowed(signals.prior_order(), allowed, CANDIDATES)) == sorted(exact_prior)
    profile = Profile(vectors[0], collab[5], np.array([0]))
    pool = signals.candidates(profile, allowed)
    exact_collab = top_rows(np.where(allowed, collab @ collab[5], -np.inf), CANDIDATES)
    assert set(exact_collab) <= set(pool) and set(exact_prior) <= set(pool)  # every list probed: exact
    assert not (~allowed[pool]).any()
    new = np.zeros((1, 8), dtype=np.float32)  # an item added through the API: unknown to CF, never liked
    signals.index.add(vectors[:1])
    signals.collab_items = np.vstack([collab, new])
    signals.popularity = np.append(signals.popularity, 0.0)
    signals.freshness = np.append(signals.freshness, signals.freshness.min())
    signals.items_added(new)
    assert signals._prior_order is None and len(signals.collab_index().vectors) == n + 1
    assert n in signals.prior_order()  # the new row has its place in the re-sorted order
    signals.forget_pools()
    assert signals._prior_order is None and signals._collab_index is None
