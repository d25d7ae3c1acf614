"""The two-tower loop's history table: which items it holds, when it is re-encoded, what a checkpoint keeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tunelab.apps.assistant.index import SentenceEncoder
from tunelab.apps.recommender.towers import NextItemExamples, pooled, recency_weights
from tunelab.apps.recommender.train import HistoryTable, TowerConfig, train
from tunelab.training.checkpoint import list_checkpoints, load_checkpoint
from tunelab.training.precision import Precision

TEXTS = ("a much longer title " * 4,) + tuple(f"film {j} {g}" for g in ("space", "love") for j in range(6))


def _examples() -> NextItemExamples:
    users = np.repeat(np.arange(2), 6)
    items = np.concatenate([np.arange(6), np.r_[6:11, 12]])
    return NextItemExamples.build(users, items, np.tile(np.arange(6.0), 2), width=3)


def test_the_table_holds_every_history_item_as_the_model_encodes_it(shop: Path) -> None:
    import torch

    encoder = SentenceEncoder.load(shop / "tiny")
    examples = _examples()
    table = HistoryTable.encode(encoder.model, encoder.tokenizer, TEXTS, examples, 7, Precision("cpu", "fp32"),
                                batch_size=4)  # batches of like length, put back in item order
    assert table.items.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10] and table.step == 7
    encoder.model.eval()
    with torch.no_grad():
        direct = pooled(encoder.model, encoder.tokenizer, [TEXTS[i] for i in table.items])
    assert torch.allclose(table.vectors, direct, atol=1e-5)
    history = examples.histories[-1:]  # user 1's last example: items 8, 9, 10, newest last
    expected = recency_weights(3, 0.8) @ direct[[7, 8, 9]].numpy()
    assert np.allclose(table.users(history, 0.8, "cpu")[0].numpy(), expected / np.linalg.norm(expected), atol=1e-5)


def test_the_table_is_re_encoded_every_refresh_steps_and_checkpointed(shop: Path, tmp_path: Path) -> None:
    for refresh, expected in ((2, 4), (250, 0)):
        encoder = SentenceEncoder.load(shop / "tiny")
        run = tmp_path / str(refresh)
        cfg = TowerConfig(batch_size=2, lr=1e-3, max_steps=5, checkpoint_every=100, refresh_every=refresh)
        train(encoder.model, encoder.tokenizer, TEXTS, _examples(), cfg, run, precision=Precision("cpu", "fp32"),
              show_progress=False)
        _, extra = load_checkpoint(list_checkpoints(run)[-1], encoder.model, *_optimiser(encoder.model))
        assert extra["history_step"] == expected  # encoded before steps 1, 3, 5 (global step 0, 2, 4)
        assert extra["tensors"]["history_vectors"].shape[0] == 10


def _optimiser(model: object) -> tuple[object, object]:
    from tunelab.training.schedule import build_optimizer, build_scheduler

    optimizer = build_optimizer(model, 1e-3, 0.0)
    return optimizer, build_scheduler(optimizer, 0, 5, 1.0)
