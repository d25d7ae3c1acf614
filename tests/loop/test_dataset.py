"""The merged training set: corrections win (the newest per text), golden texts never enter, provenance per row."""

from __future__ import annotations

import json
from pathlib import Path

from tests.loop.conftest import correct
from tunelab.config import DataConfig
from tunelab.loop.dataset import Correction, load_corrections, merge, read_labelled, save_merged
from tunelab.registry import PredictionRecord, Store
from tunelab.tasks import get_task
from tunelab.tasks.spec import get_spec


def test_corrections_win_golden_texts_are_left_out_and_every_row_says_where_it_came_from(tmp_path: Path) -> None:
    base = tmp_path / "base.csv"
    base.write_text("text,label\nwhere is my parcel,refund\nmoney back,refund\nreset password,password\n"
                    "golden text,shipping\nwhere is my parcel,refund\n", encoding="utf-8")
    original = read_labelled(base, DataConfig())
    fixes = [Correction("where is my parcel", ("shipping",), 7, "p7", 1),
             Correction("brand new text", ("refund",), 9, "p9", 2),
             Correction("golden text", ("refund",), 11, "p11", 2)]
    merged = merge(original, fixes, {"golden text"}, hash_only_skipped=1)
    assert [(r.text, r.answer, r.origin) for r in merged.rows] == [
        ("where is my parcel", ("shipping",), "correction"), ("money back", ("refund",), "original"),
        ("reset password", ("password",), "original"), ("brand new text", ("refund",), "correction")]
    assert merged.rows[0].feedback_id == 7 and merged.rows[0].replaced == f"refund@{base}:2"
    assert merged.rows[1].source == f"{base}:3"
    c = merged.counts
    assert (c.original_rows, c.corrections, c.corrections_used, c.replaced_originals) == (5, 3, 2, 2)
    assert (c.golden_excluded_originals, c.golden_excluded_corrections, c.hash_only_skipped) == (1, 1, 1)
    assert c.last_feedback_id == 11

    folder = tmp_path / "data"
    train = save_merged(merged, folder, get_spec("classification"),
                        DataConfig(text_column="utterance", label_column="intent"))
    lines = [json.loads(line) for line in train.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"utterance": "where is my parcel", "intent": "shipping"}
    assert all(line["utterance"] != "golden text" for line in lines)
    provenance = [json.loads(line) for line in (folder / "provenance.jsonl").read_text().splitlines()]
    assert [p["row"] for p in provenance] == [1, 2, 3, 4]
    assert provenance[3]["feedback_id"] == 9 and provenance[3]["prediction_id"] == "p9"
    assert json.loads((folder / "merge.json").read_text())["golden_excluded_corrections"] == 1


def test_the_newest_correction_of_a_text_wins_and_old_versions_can_be_left_out(
        store: Store, good_run: Path) -> None:
    store.register(good_run, "intents")
    store.register(good_run, "intents")
    first = correct(store, "intents", 1, "my parcel please", "refund")
    second = correct(store, "intents", 2, "my parcel please", "shipping")
    correct(store, "intents", 1, "old text", "refund")
    store.log_predictions([PredictionRecord("hashed", "intents", 2, {"label": "refund", "score": 0.5}, 1.0,
                                            "a secret text", log_text=False)])
    store.add_feedback("hashed", label="shipping")
    task = get_task("classification")
    corrections, skipped = load_corrections(store, "intents", task, since_version=1)
    assert {c.text: (c.answer, c.feedback_id) for c in corrections} == {
        "my parcel please": (("shipping",), second), "old text": (("refund",), first + 2)}
    assert skipped == 1  # its text was not logged: counted, never trained on
    recent, _ = load_corrections(store, "intents", task, since_version=2)
    assert [c.text for c in recent] == ["my parcel please"]
