"""Hyper-parameters chosen from the data when the user leaves them unset; every choice is overridable."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tunelab.config import RunConfig

LEARNING_RATES = {"full": 1e-4, "lora": 5e-4, "adalora": 1e-3, "probe": 2e-3}


def choose_epochs(n_train: int) -> int:
    """More passes over small data sets: ~10 for a few hundred examples, 3 for 50,000+."""
    if n_train <= 0:
        return 1
    return int(min(15, max(3, round(12 - 2.0 * math.log10(max(n_train, 10) / 100) * 2))))


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
        epochs=train.epochs or choose_epochs(n_train),
        batch_size=train.batch_size or choose_batch_size(n_train),
        lr=train.lr or LEARNING_RATES[train.method],
    )
    model = replace(config.model, max_length=config.model.max_length
                    or choose_max_length(token_lengths, model_limit))
    return replace(config, train=train, model=model)
