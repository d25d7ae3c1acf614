"""The dashboard's review queue in `loop suggest` order: flagged first, then what a label teaches most, with why."""

from __future__ import annotations

from pathlib import Path

from tests.loop.conftest import support_texts
from tunelab.inference.predictor import Predictor
from tunelab.loop.suggest import rank_logged
from tunelab.registry import PredictionRecord, Store
from tunelab.serving.dashboard import review

OUT = {"label": "order_status", "score": 0.1}


def log(store: Store, texts: list[str], *, log_text: bool = True) -> list[str]:
    ids = [f"p{len(store.list_predictions(limit=10_000)) + i}" for i in range(len(texts))]
    store.log_predictions([PredictionRecord(i, "support", 1, OUT, 1.0, t, log_text=log_text, score=0.1 + k / 1000)
                           for k, (i, t) in enumerate(zip(ids, texts))])
    return ids


def test_queue_follows_the_ranker_and_keeps_flagged_first(tmp_path: Path, support_run: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.register(support_run, "support")
    ids = log(store, support_texts("support_test.csv")[:30])
    (hidden,) = log(store, ["a text logged as its hash only"], log_text=False)
    store.add_feedback(ids[5], thumb=-1)
    predictor = Predictor.load(support_run)
    calls = []

    def rank(version, predictions):
        calls.append((version.model, version.version, len(predictions)))
        return rank_logged(predictor, predictions)

    queue = review.review_queue(store, "support", 0.6, 50, rank)
    expected = [pid for pid, _ in rank_logged(predictor, [store.get_prediction(i) for i in ids if i != ids[5]])]
    assert queue[0].prediction["id"] == ids[5] and queue[0].reason == "flagged"
    assert [item.prediction["id"] for item in queue[1:-1]] == expected
    assert queue[-1].prediction["id"] == hidden and queue[-1].why == ""  # no text: nothing to rank it by
    assert all("uncertainty" in item.why and "cluster" in item.why for item in queue[1:-1])
    assert calls == [("support", 1, 29)]

    def broken(version, predictions):
        raise RuntimeError("model folder gone")

    fallback = review.review_queue(store, "support", 0.6, 50, broken)  # the page still shows, least confident first
    assert [item.prediction["id"] for item in fallback] == [item.prediction["id"]
                                                            for item in review.review_queue(store, "support", 0.6, 50)]
    store.close()
