"""Logged traffic of a registered model, as the loop reads it: the newest texts, and the ones nobody labelled yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunelab.registry import ModelRef, Store, VersionInfo, parse_ref


@dataclass(frozen=True)
class LoggedText:
    text: str
    prediction_id: str | None  # None for texts read from a file


@dataclass(frozen=True)
class Traffic:
    version: VersionInfo
    texts: tuple[LoggedText, ...]
    skipped: int  # rows logged as a hash only: their text is not available


def resolve_model(store: Store, ref: str) -> VersionInfo:
    """`name`, `name@3` or `name@alias`, as the server resolves it (no A/B caller: the production version)."""
    parsed: ModelRef = parse_ref(ref)
    return store.resolve(parsed)


def recent_traffic(store: Store, ref: str, *, limit: int, unlabelled: bool = False, dedupe: bool = False) -> Traffic:
    """The newest `limit` logged predictions of the version `ref` resolves to, newest first: when `unlabelled`, only
    texts with no feedback on any of their logged predictions among those rows; each text once when `dedupe` (a
    drift window keeps repeats: they are traffic)."""
    version = resolve_model(store, ref)
    rows = store.list_predictions(model=version.model, version=version.version, limit=limit)
    if unlabelled:
        labelled = {f["prediction_id"] for f in store.list_feedback(model=version.model, version=version.version,
                                                                     limit=100_000)}
        hashes = {row["text_hash"] for row in rows if row["id"] in labelled}
        rows = [row for row in rows if row["text_hash"] not in hashes]
    return _traffic(version, rows, dedupe)


def _traffic(version: VersionInfo, rows: list[dict[str, Any]], dedupe: bool) -> Traffic:
    seen: set[str] = set()
    texts, skipped = [], 0
    for row in rows:
        if row.get("text") is None:
            skipped += 1
            continue
        if dedupe and row["text_hash"] in seen:
            continue
        seen.add(row["text_hash"])
        texts.append(LoggedText(row["text"], row["id"]))
    return Traffic(version, tuple(texts), skipped)
