"""Re-seal every stored text and output with the current data key (`tunelab keys rotate-data-key`).

Every table with sealed columns (`SealedText`, `SealedJSON`: found from the shared metadata, so a new one is never
forgotten) is read in primary-key order, `batch` rows at a time; the rows holding a value that is plain or sealed
with another key are written back, which seals them with the primary key, and each batch commits on its own. An
interrupted rotation started again skips what is already done. When it reports nothing left, the older keys can
leave the key file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tunelab.errors import UsageError
from tunelab.registry.sealing import Keyring, SealedJSON, SealedText, sealed_with


@dataclass
class RotationReport:
    primary: str  # the key id everything is sealed with now
    rewritten: dict[str, int] = field(default_factory=dict)  # rows re-sealed per table
    scanned: dict[str, int] = field(default_factory=dict)


def sealed_tables(metadata: sa.MetaData) -> list[tuple[sa.Table, list[sa.Column[Any]]]]:
    out = []
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, SealedText | SealedJSON)]
        if columns:
            if len(table.primary_key.columns) != 1:
                raise AssertionError(f"{table.name}: sealed columns need a one-column primary key")
            out.append((table, columns))
    return out


def rotate(engine: Any, keyring: Keyring | None, metadata: sa.MetaData, batch: int = 500,
           progress: Callable[[str, int], None] | None = None) -> RotationReport:
    """Re-seal with `keyring.primary` (which must be the process's active keyring) every value that is not."""
    if keyring is None:
        raise UsageError("no data key: set TUNELAB_DATA_KEY or TUNELAB_DATA_KEY_FILE (the new key first)")
    report = RotationReport(keyring.primary.key_id)
    for table, columns in sealed_tables(metadata):
        report.rewritten[table.name], report.scanned[table.name] = _rotate_table(
            engine, table, columns, keyring.primary.key_id, batch, progress)
    return report


def _rotate_table(engine: Any, table: sa.Table, columns: list[sa.Column[Any]], primary: str, batch: int,
                  progress: Callable[[str, int], None] | None) -> tuple[int, int]:
    pk = next(iter(table.primary_key.columns))
    raw = [sa.type_coerce(c, c.type.impl).label(c.name) for c in columns]  # as stored: not opened
    after: Any = None
    rewritten = scanned = 0
    while True:
        query = sa.select(pk, *raw).order_by(pk).limit(batch)
        if after is not None:
            query = query.where(pk > after)
        with engine.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return rewritten, scanned
            stale = [r[0] for r in rows if any(v is not None and sealed_with(v) != primary for v in r[1:])]
            if stale:
                opened = conn.execute(sa.select(pk, *columns).where(pk.in_(stale))).all()
                for row in opened:
                    conn.execute(table.update().where(pk == row[0]).values(
                        {c.name: value for c, value in zip(columns, row[1:])}))
            after = rows[-1][0]
        scanned += len(rows)
        rewritten += len(stale)
        if progress is not None:
            progress(table.name, scanned)
