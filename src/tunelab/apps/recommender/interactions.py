"""Read interaction files against the catalogue: unknown items, bad values and times, users with no positive."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunelab.apps.recommender.dataset import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    TIME_COLUMNS,
    USER_COLUMNS,
    VALUE_COLUMNS,
    Catalogue,
    DataOptions,
    Interactions,
    missing_column,
    parse_time,
    pick_column,
)
from tunelab.apps.recommender.records import Table, read_table
from tunelab.errors import DataProblem


@dataclass(frozen=True)
class _Columns:
    user: str
    item: str
    time: str | None
    event: str | None
    value: str | None


@dataclass
class _Rows:
    users: list[str]
    items: list[int]
    times: list[float]
    weights: list[float]
    lines: list[tuple[str, int]]


def read_interactions(paths: tuple[Path, ...], catalogue: Catalogue,
                      options: DataOptions) -> tuple[Interactions | None, list[DataProblem]]:
    """All files' interactions, in file order, with every problem found; None when a file is unusable."""
    rows = _Rows([], [], [], [], [])
    problems: list[DataProblem] = []
    positions = catalogue.positions()
    for path in paths:
        table, found = read_table(path)
        problems += found
        if table is None:
            return None, problems
        columns, found = _columns(table, options)
        problems += found
        if columns is None:
            return None, problems
        problems += _read_rows(table, columns, positions, options, rows)
    problems += _no_positive(rows, catalogue, options.strict)
    user_ids = tuple(dict.fromkeys(rows.users))
    index = {u: i for i, u in enumerate(user_ids)}
    result = Interactions(user_ids, np.array([index[u] for u in rows.users], dtype=np.int64),
                          np.array(rows.items, dtype=np.int64), np.array(rows.times, dtype=np.float64),
                          np.array(rows.weights, dtype=np.float32))
    return result, problems


def _columns(table: Table, options: DataOptions) -> tuple[_Columns | None, list[DataProblem]]:
    user = pick_column(table.columns, options.user_column, USER_COLUMNS)
    item = pick_column(table.columns, options.item_column, ITEM_COLUMNS)
    value = pick_column(table.columns, options.value_column, VALUE_COLUMNS)
    event = pick_column(table.columns, options.event_column, EVENT_COLUMNS)
    problems = []
    if user is None:
        problems.append(missing_column(table, options.user_column, USER_COLUMNS, "--user-column"))
    if item is None:
        problems.append(missing_column(table, options.item_column, ITEM_COLUMNS, "--item-column"))
    if options.positive.needs_value and value is None:
        problems.append(missing_column(table, options.value_column, VALUE_COLUMNS, "--value-column"))
    if options.positive.needs_event and event is None:
        problems.append(missing_column(table, options.event_column, EVENT_COLUMNS, "--event-column"))
    if problems or user is None or item is None:
        return None, problems
    time = pick_column(table.columns, options.time_column, TIME_COLUMNS)
    return _Columns(user, item, time, event, value), []


def _read_rows(table: Table, columns: _Columns, positions: dict[str, int], options: DataOptions,
               rows: _Rows) -> list[DataProblem]:
    problems: list[DataProblem] = []
    for line, record in table.rows:
        found = _read_row(table.path, line, record, columns, positions, options, rows)
        if found is not None:
            problems.append(found)
    return problems


def _read_row(path: str, line: int, record: dict[str, str], columns: _Columns, positions: dict[str, int],
              options: DataOptions, rows: _Rows) -> DataProblem | None:
    user, item = record.get(columns.user, ""), record.get(columns.item, "")
    if not user or not item:
        return DataProblem(path, "empty user or item id", line=line, column=columns.user if not user else columns.item)
    if item not in positions:
        return DataProblem(path, f"unknown item {item!r} (not in the items file)", line=line, column=columns.item)
    when = float(len(rows.times))
    if columns.time is not None:
        parsed = parse_time(record.get(columns.time, ""))
        if parsed is None:
            return DataProblem(path, f"unparsable timestamp {record.get(columns.time, '')!r} (use epoch seconds or "
                                     "ISO 8601)", line=line, column=columns.time)
        when = parsed
    value = None
    if columns.value is not None and record.get(columns.value, ""):
        try:
            value = float(record[columns.value])
        except ValueError:
            return DataProblem(path, f"value {record[columns.value]!r} is not a number", line=line,
                               column=columns.value)
    event = record.get(columns.event, "").lower() if columns.event else ""
    positive = options.positive.accepts(event, value)
    rows.users.append(user)
    rows.items.append(positions[item])
    rows.times.append(when)
    rows.weights.append(options.event_weights.get(event, 1.0) if positive else 0.0)
    rows.lines.append((path, line))
    return None


def _no_positive(rows: _Rows, catalogue: Catalogue, strict: bool) -> list[DataProblem]:
    """Users (and interacted items) with no positive: warnings (left out of training), errors when strict."""
    severity = "error" if strict else "warning"
    seen_user: dict[str, tuple[str, int]] = {}
    seen_item: dict[int, tuple[str, int]] = {}
    positive_users: Counter[str] = Counter()
    positive_items: Counter[int] = Counter()
    for user, item, weight, where in zip(rows.users, rows.items, rows.weights, rows.lines):
        seen_user.setdefault(user, where)
        seen_item.setdefault(item, where)
        if weight > 0:
            positive_users[user] += 1
            positive_items[item] += 1
    problems = [DataProblem(path, f"user {user!r} has no positive interaction", line=line, severity=severity)
                for user, (path, line) in seen_user.items() if not positive_users[user]]
    problems += [DataProblem(path, f"item {catalogue.item_ids[item]!r} has interactions but no positive one",
                             line=line, severity=severity)
                 for item, (path, line) in seen_item.items() if not positive_items[item]]
    return problems
