"""Reading and validating recommender data: every problem at once, MovieLens columns, positives, splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tunelab.apps.recommender.dataset import DataOptions, load_dataset
from tunelab.apps.recommender.rules import PositiveRule, parse_event_weights
from tunelab.apps.recommender.split import TEST, TRAIN, VALID, SplitSpec, assign_parts
from tunelab.errors import DataError, UsageError

MOVIES = "movieId,title,genres\n1,Toy Story,Animation|Comedy\n2,Heat,Action|Crime\n3,Alien,Horror|Sci-Fi\n" \
         "4,Up,Animation\n"
RATINGS = ("userId,movieId,rating,timestamp\n" + "".join(
    f"{u},{i},{r},{t}\n" for u, i, r, t in [(1, 1, 5, 10), (1, 2, 4, 20), (1, 3, 4.5, 30), (1, 4, 2, 40),
                                           (2, 2, 5, 5), (2, 3, 4, 6), (2, 1, 4, 7), (3, 4, 1, 3)]))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_movielens_columns_and_rating_rule(tmp_path: Path) -> None:
    options = DataOptions(positive=PositiveRule.parse("rating>=4"))
    data = load_dataset(write(tmp_path, "r.csv", RATINGS), write(tmp_path, "m.csv", MOVIES), options)
    assert data.catalogue.item_ids == ("1", "2", "3", "4")
    assert data.catalogue.texts[0] == "Toy Story. genres: Animation, Comedy"
    assert data.interactions.user_ids == ("1", "2", "3")
    assert data.interactions.positives().users.tolist() == [0, 0, 0, 1, 1, 1]
    assert [w.message for w in data.warnings] == ["user '3' has no positive interaction",
                                                  "item '4' has interactions but no positive one"]
    with pytest.raises(DataError, match="user '3' has no positive"):
        load_dataset(tmp_path / "r.csv", tmp_path / "m.csv", DataOptions(positive=options.positive, strict=True))


def test_every_problem_reported_at_once_with_file_and_line(tmp_path: Path) -> None:
    items = write(tmp_path, "items.csv", "item_id,title\na,First\nb,\na,Again\n")
    events = write(tmp_path, "events.csv", "user_id,item_id,timestamp\nu1,a,2024-01-02T10:00:00\nu1,zzz,5\n"
                                           "u2,a,yesterday\n")
    with pytest.raises(DataError) as caught:
        load_dataset(events, items, DataOptions())
    shown = [str(p) for p in caught.value.problems]
    assert f"{items}:3: item 'b' has no text in title" in shown
    assert any(s.startswith(f"{items}:4 [item_id]: duplicate item id 'a' (first at line 2)") for s in shown)
    assert any(s.startswith(f"{events}:3 [item_id]: unknown item 'zzz'") for s in shown)
    assert any(s.startswith(f"{events}:4 [timestamp]: unparsable timestamp 'yesterday'") for s in shown)
    assert caught.value.exit_code == 2


def test_jsonl_events_with_event_rule_and_weights(tmp_path: Path) -> None:
    items = write(tmp_path, "items.jsonl", "\n".join(json.dumps({"item_id": i, "title": t}) for i, t in
                                                    [("a", "red shoes"), ("b", "blue boots")]) + "\n")
    rows = [{"user_id": "u", "item_id": "a", "event": "view"}, {"user_id": "u", "item_id": "b", "event": "purchase"},
            {"user_id": "u", "item_id": "a", "event": "click"}]
    events = write(tmp_path, "events.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    options = DataOptions(positive=PositiveRule.parse("event in [click, purchase]"),
                          event_weights=parse_event_weights("purchase=3"))
    data = load_dataset(events, items, options)
    assert data.interactions.weights.tolist() == [0.0, 3.0, 1.0]
    assert data.interactions.times.tolist() == [0.0, 1.0, 2.0]  # no time column: file order


def test_missing_column_names_the_option(tmp_path: Path) -> None:
    items = write(tmp_path, "items.csv", "sku,title\na,x\n")
    with pytest.raises(DataError, match="--item-column"):
        load_dataset(write(tmp_path, "e.csv", "user_id,item_id\nu,a\n"), items, DataOptions())


def test_bad_rules_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        PositiveRule.parse("price>10")
    with pytest.raises(UsageError):
        parse_event_weights("click=abc")
    with pytest.raises(UsageError):
        SplitSpec.parse("last:0")
    assert PositiveRule.parse("rating > 3").accepts("", 3.5)
    assert not PositiveRule.parse("rating>=4").accepts("", None)


def test_temporal_split_holds_out_each_users_last_positive(tmp_path: Path) -> None:
    options = DataOptions(positive=PositiveRule.parse("rating>=4"))
    data = load_dataset(write(tmp_path, "r.csv", RATINGS), write(tmp_path, "m.csv", MOVIES), options)
    positives = data.interactions.positives()
    parts = assign_parts(positives, SplitSpec.parse("last:1"))
    # user 1: items 1,2,3 at t=10,20,30 -> 3 is test, 2 validation; user 2: 2,3,1 at t=5,6,7 -> 1 test, 3 valid
    assert parts.tolist() == [TRAIN, VALID, TEST, TRAIN, VALID, TEST]
    cut = assign_parts(positives, SplitSpec.parse("time:0.5"))
    assert set(np.flatnonzero(cut == TEST).tolist()) == {0, 1, 2}  # times 10, 20, 30 > the median 8.5
