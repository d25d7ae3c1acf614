"""Hyper-parameters chosen from the data when the user leaves them unset; every choice is overridable."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tunelab.config import RunConfig
from tunelab.tasks.spec import get_spec

# A 1e-4 peak under-fitted Banking77 in 4 epochs (dev accuracy 0.68, 0.83, 0.88 after epochs 1-3,
# still rising): small encoders like MiniLM take a higher rate; the best dev checkpoint is kept anyway.
LEARNING_RATES = {"full": 2e-4, "lora": 5e-4, "adalora": 1e-3, "probe": 2e-3}
EPOCHS_BY_SIZE = ((500, 15), (2000, 10), (5000, 8), (20000, 6), (50000, 4))


def choose_epochs(n_train: int, task: str = "classification") -> int:
    """More passes over small data sets, with early stopping as the guard against over-fitting; a task whose
    examples carry a label per word needs fewer (its spec's `epoch_divisor`)."""
    epochs = next((e for limit, e in EPOCHS_BY_SIZE if n_train < limit), 3)
    return max(3, epochs // get_spec(task).epoch_divisor)


def choose_batch_size(n_train: int) -> int:
    return 16 if n_train < 2000 else 32


def choose_max_length(token_lengths: Sequence[int], model_limit: int) -> int:
    """Cover 99.5% of the training texts, rounded up to a multiple of 8, within the model's limit."""
    if not token_lengths:
        return min(128, model_limit)
    covered = int(np.percentile(np.asarray(token_lengths), 99.5))
    return int(min(model_limit, max(16, math.ceil(covered / 8) * 8)))


def resolve_defaults(config: RunConfig, n_train: int, token_lengths: Sequence[int],
                     model_limit: int) -> RunConfig:
    """A copy of `config` with every None hyper-parameter filled in."""
    train = config.train
    train = replace(
        train,
        epochs=train.epochs or choose_epochs(n_train, config.data.task),
        batch_size=train.batch_size or choose_batch_size(n_train),
        lr=train.lr or LEARNING_RATES[train.method],
    )
    model = replace(config.model, max_length=config.model.max_length
                    or choose_max_length(token_lengths, model_limit))
    return replace(config, train=train, model=model)
