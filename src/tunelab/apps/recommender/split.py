"""Temporal splits of the positives: each user's last ones (or everything after a time cut) are the test."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunelab.apps.recommender.dataset import Interactions
from tunelab.artifacts.files import write_text_atomic
from tunelab.errors import UsageError

TRAIN, VALID, TEST = 0, 1, 2
PART_NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitSpec:
    """`last:N` (each user's last N positives are test, the N before them validation) or `time:Q` (positives
    after the Q-quantile of time are test; each user's last earlier positive is validation)."""

    kind: str = "last"
    amount: float = 1.0

    @classmethod
    def parse(cls, text: str) -> SplitSpec:
        kind, _, number = text.partition(":")
        try:
            amount = float(number or "1")
        except ValueError:
            amount = -1.0
        if kind == "last" and amount >= 1 and amount == int(amount):
            return cls("last", amount)
        if kind == "time" and 0 < amount < 1:
            return cls("time", amount)
        raise UsageError(f"--split {text!r}: use last:N (N >= 1) or time:Q (0 < Q < 1)")


def assign_parts(positives: Interactions, spec: SplitSpec, given_test: bool = False) -> np.ndarray:
    """Part (TRAIN, VALID, TEST) of each positive; with `given_test`, no TEST here (the test file is apart)."""
    parts = np.full(len(positives.users), TRAIN, dtype=np.int8)
    order = np.lexsort((np.arange(len(parts)), positives.times, positives.users))
    cut = np.inf if given_test or spec.kind != "time" else float(np.quantile(positives.times, spec.amount))
    parts[positives.times > cut] = TEST
    n_test = 0 if given_test or spec.kind == "time" else int(spec.amount)
    bounds = np.flatnonzero(np.diff(positives.users[order])) + 1
    for rows in np.split(order, bounds):
        rows = rows[parts[rows] == TRAIN]
        if len(rows) < n_test + 2:  # keep at least one training positive and one validation one
            continue
        if n_test:
            parts[rows[-n_test:]] = TEST
        parts[rows[-n_test - 1]] = VALID
    return parts


def save_split(path: Path, positives: Interactions, parts: np.ndarray, item_ids: tuple[str, ...]) -> None:
    """split.csv: user_id,item_id,timestamp,part for every positive (the record of what was held out)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["user_id", "item_id", "timestamp", "part"])
    for user, item, when, part in zip(positives.users, positives.items, positives.times, parts):
        writer.writerow([positives.user_ids[user], item_ids[item], f"{when:.0f}", PART_NAMES[part]])
    write_text_atomic(path, buffer.getvalue())
