"""Load the catalogue and the interactions, validate both at once (every problem, file and line), keep positives."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from tunelab.apps.recommender.records import Table, read_table
from tunelab.apps.recommender.rules import PositiveRule
from tunelab.errors import DataError, DataProblem

USER_COLUMNS = ("user_id", "userId", "user", "customer_id")
ITEM_COLUMNS = ("item_id", "itemId", "movieId", "movie_id", "product_id", "item")
TIME_COLUMNS = ("timestamp", "time", "ts", "date")
EVENT_COLUMNS = ("event", "event_type", "action")
VALUE_COLUMNS = ("value", "rating", "score")


@dataclass(frozen=True)
class DataOptions:
    """Where the columns are and what counts as positive; None picks the usual names (MovieLens' included)."""

    user_column: str | None = None
    item_column: str | None = None
    time_column: str | None = None
    event_column: str | None = None
    value_column: str | None = None
    text_fields: tuple[str, ...] = ()  # empty: every item column but the id
    positive: PositiveRule = PositiveRule("all")
    event_weights: dict[str, float] = field(default_factory=dict)
    strict: bool = False  # users/items with no positive are errors instead of warnings


@dataclass(frozen=True)
class Catalogue:
    """The items: ids, the text each is encoded from, and every column as a filterable field."""

    item_ids: tuple[str, ...]
    texts: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]

    def positions(self) -> dict[str, int]:
        return {item: i for i, item in enumerate(self.item_ids)}


@dataclass(frozen=True)
class Interactions:
    """One row per interaction, as indexes into `user_ids` and the catalogue; weight 0 for non-positives."""

    user_ids: tuple[str, ...]
    users: np.ndarray  # int64
    items: np.ndarray  # int64
    times: np.ndarray  # float64 seconds (row order when the file has no time column)
    weights: np.ndarray  # float32

    def positives(self) -> Interactions:
        keep = self.weights > 0
        return Interactions(self.user_ids, self.users[keep], self.items[keep], self.times[keep], self.weights[keep])


@dataclass(frozen=True)
class Dataset:
    catalogue: Catalogue
    interactions: Interactions
    warnings: tuple[DataProblem, ...]


def pick_column(columns: tuple[str, ...], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    if wanted:
        return wanted if wanted in columns else None
    return next((c for c in candidates if c in columns), None)


def item_text(record: dict[str, str], fields: tuple[str, ...]) -> str:
    """`Toy Story (1995). genres: Adventure, Animation`: the first field as is, the others named."""
    parts = []
    for i, name in enumerate(fields):
        value = record.get(name, "").replace("|", ", ").strip()
        if value and value != "(no genres listed)":
            parts.append(value if i == 0 else f"{name}: {value}")
    return ". ".join(parts)


def read_catalogue(path: Path, options: DataOptions, tags: dict[str, list[str]]) -> tuple[Catalogue | None,
                                                                                      list[DataProblem]]:
    table, problems = read_table(path)
    if table is None:
        return None, problems
    id_column = pick_column(table.columns, options.item_column, ITEM_COLUMNS)
    if id_column is None:
        return None, problems + [missing_column(table, options.item_column, ITEM_COLUMNS, "--item-column")]
    fields = options.text_fields or tuple(c for c in table.columns if c != id_column)
    absent = [f for f in fields if f not in table.columns]
    if absent:
        return None, problems + [missing_column(table, f, (f,), "--text-fields") for f in absent]
    ids, texts, first_line = [], [], {}
    for line, record in table.rows:
        item = record.get(id_column, "")
        text = item_text(record, fields)
        if item in tags:
            listed = f"tags: {', '.join(tags[item])}"
            text = f"{text}. {listed}" if text else listed
        if not item:
            problems.append(DataProblem(table.path, "empty item id", line=line, column=id_column))
        elif item in first_line:
            problems.append(DataProblem(table.path, f"duplicate item id {item!r} (first at line {first_line[item]})",
                                        line=line, column=id_column))
        elif not text:
            problems.append(DataProblem(table.path, f"item {item!r} has no text in {', '.join(fields)}", line=line))
        else:
            first_line[item] = line
            ids.append(item)
            texts.append(text)
    columns = {c: tuple(r.get(c, "") for _, r in table.rows if r.get(id_column, "") in first_line)
               for c in table.columns if c != id_column}
    return Catalogue(tuple(ids), tuple(texts), columns), problems


def read_tags(path: Path | None, options: DataOptions, top: int = 8) -> tuple[dict[str, list[str]], list[DataProblem]]:
    """The most frequent tags of each item from a MovieLens-style tags file (item id, `tag`)."""
    if path is None:
        return {}, []
    table, problems = read_table(path)
    if table is None:
        return {}, problems
    item_column = pick_column(table.columns, options.item_column, ITEM_COLUMNS)
    if item_column is None or "tag" not in table.columns:
        return {}, problems + [DataProblem(table.path, "a tags file needs an item id column and a 'tag' column",
                                           line=1)]
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for _, record in table.rows:
        if record.get("tag"):
            counts[record[item_column]][record["tag"].lower()] += 1
    return {item: [t for t, _ in c.most_common(top)] for item, c in counts.items()}, problems


def parse_time(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def missing_column(table: Table, wanted: str | None, candidates: tuple[str, ...], option: str) -> DataProblem:
    names = ", ".join(candidates if not wanted else (wanted,))
    present = ", ".join(table.columns) or "none"
    return DataProblem(table.path, f"no column {names} in the header (columns: {present}); pass {option} NAME",
                       line=1)


def load_dataset(interactions: Path, items: Path, options: DataOptions, tags: Path | None = None,
                 extra: tuple[Path, ...] = ()) -> Dataset:
    """Read, validate and index everything; raise one DataError listing every problem."""
    from tunelab.apps.recommender.interactions import read_interactions

    tag_map, problems = read_tags(tags, options)
    catalogue, found = read_catalogue(items, options, tag_map)
    problems += found
    if catalogue is None:
        raise DataError(problems)
    result, found = read_interactions((interactions, *extra), catalogue, options)
    problems += found
    errors = [p for p in problems if p.severity == "error"]
    if errors or result is None:
        raise DataError(errors or problems)
    return Dataset(catalogue, result, tuple(p for p in problems if p.severity == "warning"))
