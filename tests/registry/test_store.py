"""The registry Store on SQLite and PostgreSQL: versions, aliases, resolution, splits, the prediction log,
feedback, API keys and migrations. Every test runs on both backends (PostgreSQL is skipped when unreachable)."""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tunelab.errors import ArtifactError, ConflictError, IncompleteRunError, NotFoundError, UsageError
from tunelab.registry import ModelRef, PredictionRecord, Store
from tunelab.registry import schema as t
from tunelab.registry.db import MIGRATIONS, current_revision
from tunelab.registry.store import feedback_correct, now
from tunelab.tasks import get_task

INTENT_LABELS = {"refund", "shipping", "password"}


@pytest.fixture
def store(registry: Store) -> Store:
    return registry


@pytest.fixture
def intents(store: Store, served_runs: dict[str, Path]) -> Store:
    """`intents` v1 (alias production) and v2."""
    store.register(served_runs["intents_a"], "intents", alias="production", actor="tester")
    store.register(served_runs["intents_b"], "intents")
    return store


def record(pid: str, output: dict[str, Any], *, model: str = "intents", version: int = 1, text: str = "some text",
           log_text: bool = True, key_id: str | None = None, caller: str | None = None) -> PredictionRecord:
    return PredictionRecord(pid, model, version, output, 12.5, text, key_id, caller, log_text)


CLASS_OUT = {"label": "refund", "score": 0.8, "probabilities": {"refund": 0.8, "shipping": 0.15, "password": 0.05}}
MULTI_OUT = {"labels": ["refund", "urgent"], "scores": {"refund": 0.9, "urgent": 0.7, "shipping": 0.1}}
NER_OUT = {"spans": [{"start": 0, "end": 5, "label": "PER", "text": "Alice", "score": 0.9},
                     {"start": 14, "end": 19, "label": "LOC", "text": "Paris", "score": 0.6}]}


# ---- register, get, list ---------------------------------------------------------------------------------------


def test_register_numbers_versions(store: Store, served_runs: dict[str, Path]) -> None:
    v1 = store.register(served_runs["intents_a"], "intents", description="support intents")
    v2 = store.register(served_runs["intents_b"], "intents")
    assert (v1.model, v1.version, v2.version) == ("intents", 1, 2)
    assert v1.task == "classification" and set(v1.labels) == INTENT_LABELS
    assert v1.run_path == str(served_runs["intents_a"].resolve())
    assert v1.aliases == () and v1.created_at.tzinfo is not None
    store.register(served_runs["ner"], "entities")

    info = store.get_model("intents")
    assert info.description == "support intents"
    assert [v.version for v in info.versions] == [1, 2]
    assert [v.run_path for v in info.versions] == [str(served_runs["intents_a"].resolve()),
                                                   str(served_runs["intents_b"].resolve())]
    assert info.aliases == {} and info.split == {}
    assert [m.name for m in store.list_models()] == ["entities", "intents"]
    assert store.get_version("entities", 1).task == "ner"
    assert store.get_version("intents", 2).to_dict()["version"] == 2


def test_register_rejects_unfinished_or_missing_runs(store: Store, served_runs: dict[str, Path],
                                                      tmp_path: Path) -> None:
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text("seed: 1\n", encoding="utf-8")
    with pytest.raises(IncompleteRunError):
        store.register(unfinished, "intents")
    with pytest.raises(ArtifactError):
        store.register(tmp_path / "does-not-exist", "intents")
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(served_runs["intents_a"] / "manifest.json", no_weights / "manifest.json")
    with pytest.raises(ArtifactError, match="safetensors"):
        store.register(no_weights, "intents")
    assert store.list_models() == []  # nothing half-registered


def test_register_rejects_bad_names(store: Store, served_runs: dict[str, Path]) -> None:
    for name in ("../x", "A", "", "a b", "a/b", "a..b", ".hidden", "-dash", "x" * 65, "intents@1", None):
        with pytest.raises(UsageError):
            store.register(served_runs["intents_a"], name)  # type: ignore[arg-type]
    assert store.list_models() == []


def test_unknown_model_and_version(intents: Store) -> None:
    with pytest.raises(NotFoundError):
        intents.get_model("nope")
    with pytest.raises(NotFoundError, match="no model"):
        intents.get_version("nope", 1)
    with pytest.raises(NotFoundError, match="no version 3"):
        intents.get_version("intents", 3)
    with pytest.raises(UsageError):
        intents.get_model("../etc")


def test_register_with_invalid_alias_writes_nothing(store: Store, served_runs: dict[str, Path]) -> None:
    with pytest.raises(UsageError):
        store.register(served_runs["intents_a"], "intents", alias="Not Valid")
    assert store.list_models() == []


# ---- aliases ---------------------------------------------------------------------------------------------------


def test_promote_rollback_and_history(intents: Store) -> None:
    assert intents.get_model("intents").aliases == {"production": 1}
    assert intents.get_version("intents", 1).aliases == ("production",)

    assert intents.set_alias("intents", "production", 2, actor="alice").version == 2
    assert intents.get_model("intents").aliases == {"production": 2}
    assert intents.get_version("intents", 1).aliases == ()

    back = intents.rollback_alias("intents", actor="bob")
    assert back.version == 1
    assert intents.get_model("intents").aliases == {"production": 1}

    history = intents.alias_history("intents", "production")
    assert [(h["version"], h["previous_version"], h["actor"]) for h in history] == [
        (1, None, "tester"), (2, 1, "alice"), (1, 2, "bob")]
    assert all(h["alias"] == "production" and h["at"] for h in history)

    intents.set_alias("intents", "staging", 2)
    assert intents.get_model("intents").aliases == {"production": 1, "staging": 2}
    assert len(intents.alias_history("intents")) == 4
    assert [h["alias"] for h in intents.alias_history("intents", "staging")] == ["staging"]


def test_set_alias_returns_the_version_with_its_new_alias(intents: Store) -> None:
    assert intents.set_alias("intents", "production", 2).aliases == ("production",)


def test_rollback_without_history_or_alias(intents: Store) -> None:
    with pytest.raises(ConflictError):
        intents.rollback_alias("intents", "production")  # set once: nothing earlier to go back to
    assert intents.get_model("intents").aliases == {"production": 1}
    with pytest.raises(NotFoundError):
        intents.rollback_alias("intents", "staging")
    with pytest.raises(NotFoundError):
        intents.rollback_alias("nope", "production")


def test_set_alias_validation(intents: Store) -> None:
    with pytest.raises(NotFoundError):
        intents.set_alias("intents", "production", 7)
    with pytest.raises(NotFoundError):
        intents.set_alias("nope", "production", 1)
    with pytest.raises(UsageError):
        intents.set_alias("intents", "Prod!", 1)
    assert intents.get_model("intents").aliases == {"production": 1}
    assert len(intents.alias_history("intents")) == 1


# ---- resolve ---------------------------------------------------------------------------------------------------


def test_resolve(intents: Store, served_runs: dict[str, Path]) -> None:
    assert intents.resolve(ModelRef("intents", version=2)).version == 2
    assert intents.resolve(ModelRef("intents", alias="production")).version == 1
    assert intents.resolve(ModelRef("intents")).version == 1  # production is the default
    intents.set_alias("intents", "staging", 2)
    assert intents.resolve(ModelRef("intents", alias="staging")).version == 2

    intents.register(served_runs["multilabel"], "tags")
    intents.register(served_runs["multilabel"], "tags")
    assert intents.resolve(ModelRef("tags")).version == 2  # no alias: the newest

    with pytest.raises(NotFoundError):
        intents.resolve(ModelRef("nope"))
    with pytest.raises(NotFoundError):
        intents.resolve(ModelRef("nope", version=1))
    with pytest.raises(NotFoundError):
        intents.resolve(ModelRef("intents", version=9))
    with pytest.raises(NotFoundError, match="alias"):
        intents.resolve(ModelRef("intents", alias="canary"))


def test_resolve_with_split_is_sticky_and_alias_wins(intents: Store) -> None:
    intents.set_split("intents", {1: 0.5, 2: 0.5})
    chosen = {c: intents.resolve(ModelRef("intents"), caller=c).version for c in (f"user-{i}" for i in range(60))}
    assert set(chosen.values()) == {1, 2}
    assert all(intents.resolve(ModelRef("intents"), caller=c).version == v for c, v in chosen.items())
    assert intents.resolve(ModelRef("intents", alias="production"), caller="user-1").version == 1
    intents.set_split("intents", {1: 0.0, 2: 1.0})
    assert {intents.resolve(ModelRef("intents"), caller=f"u{i}").version for i in range(30)} == {2}


# ---- A/B split -------------------------------------------------------------------------------------------------


def test_set_split_validation(intents: Store) -> None:
    with pytest.raises(UsageError):
        intents.set_split("intents", {1: -0.5, 2: 1.5})
    with pytest.raises(UsageError):
        intents.set_split("intents", {1: 0.0, 2: 0.0})
    with pytest.raises(NotFoundError):
        intents.set_split("intents", {1: 0.5, 3: 0.5})
    with pytest.raises(NotFoundError):
        intents.set_split("nope", {1: 1.0})
    with pytest.raises(NotFoundError):
        intents.set_split("nope", {})
    assert intents.get_split("intents") == {}

    assert intents.set_split("intents", {1: 0.9, 2: 0.1}) == {1: 0.9, 2: 0.1}
    assert intents.get_split("intents") == {1: 0.9, 2: 0.1}
    assert intents.get_model("intents").split == {1: 0.9, 2: 0.1}
    assert intents.get_model("intents").to_dict()["split"] == {"1": 0.9, "2": 0.1}
    intents.set_split("intents", {2: 1.0})  # replaces, not merges
    assert intents.get_split("intents") == {2: 1.0}
    assert intents.set_split("intents", {}) == {}
    assert intents.get_split("intents") == {}
    assert intents.resolve(ModelRef("intents"), caller="anyone").version == 1  # back to production


def test_set_split_rejects_non_finite_weights(intents: Store) -> None:
    for bad in (float("inf"), float("nan")):
        with pytest.raises(UsageError):
            intents.set_split("intents", {1: bad, 2: 1.0})


# ---- prediction log --------------------------------------------------------------------------------------------


def test_prediction_log_round_trip(intents: Store) -> None:
    intents.log_predictions([
        record("p-class", CLASS_OUT, text="refund please", key_id="k1", caller="user-1"),
        record("p-multi", MULTI_OUT, model="tags", text="héllo ✓"),
        record("p-ner", NER_OUT, model="entities", text="Alice went to Paris"),
        record("p-secret", CLASS_OUT, version=2, text="my card is 4111", log_text=False),
    ])
    intents.log_predictions([])  # a no-op

    got = intents.get_prediction("p-class")
    assert got["text"] == "refund please" and got["output"] == CLASS_OUT
    assert (got["model"], got["version"], got["key_id"], got["caller"]) == ("intents", 1, "k1", "user-1")
    assert got["score"] == pytest.approx(0.8) and got["latency_ms"] == pytest.approx(12.5)
    assert got["text_hash"] == hashlib.sha256(b"refund please").hexdigest()
    assert got["created_at"].endswith("+00:00")
    assert intents.get_prediction("p-multi")["text"] == "héllo ✓"
    assert intents.get_prediction("p-multi")["score"] == pytest.approx(0.9)  # top label score
    assert intents.get_prediction("p-ner")["score"] == pytest.approx(0.6)  # least sure span

    secret = intents.get_prediction("p-secret")
    assert secret["text"] is None
    assert secret["text_hash"] == hashlib.sha256(b"my card is 4111").hexdigest()
    with intents.engine.connect() as conn:
        assert "4111" not in str(conn.execute(sa.select(t.predictions).where(t.predictions.c.id == "p-secret")).one())

    with pytest.raises(NotFoundError):
        intents.get_prediction("missing")

    assert {p["id"] for p in intents.list_predictions()} == {"p-class", "p-multi", "p-ner", "p-secret"}
    assert {p["id"] for p in intents.list_predictions(model="intents")} == {"p-class", "p-secret"}
    assert [p["id"] for p in intents.list_predictions(model="intents", version=2)] == ["p-secret"]
    assert {p["id"] for p in intents.list_predictions(max_score=0.7)} == {"p-ner"}
    assert len(intents.list_predictions(limit=2)) == 2
    intents.add_feedback("p-class", thumb=1)
    assert "p-class" not in {p["id"] for p in intents.list_predictions(without_feedback=True)}


def test_purge_keeps_predictions_with_feedback(intents: Store) -> None:
    intents.log_predictions([record(f"p{i}", CLASS_OUT) for i in range(4)])
    intents.add_feedback("p1", label="refund")
    intents.add_feedback("p3", comment="odd one")
    assert intents.purge_predictions(now() - timedelta(hours=1)) == 0  # nothing is that old
    assert len(intents.list_predictions()) == 4

    assert intents.purge_predictions(now() + timedelta(seconds=5)) == 2
    assert sorted(p["id"] for p in intents.list_predictions()) == ["p1", "p3"]
    assert [f["prediction_id"] for f in intents.list_feedback()] == ["p1", "p3"]
    with pytest.raises(NotFoundError):
        intents.get_prediction("p0")


def test_purge_with_a_non_utc_cutoff(intents: Store) -> None:
    intents.log_predictions([record("p0", CLASS_OUT)])
    eastern = timezone(timedelta(hours=-5))
    cutoff = (now() + timedelta(minutes=1)).astimezone(eastern)  # the same instant, later than the prediction
    assert intents.purge_predictions(cutoff) == 1


# ---- feedback --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("task", "output", "label", "thumb", "expected"), [
    ("classification", CLASS_OUT, "refund", None, True),
    ("classification", CLASS_OUT, "shipping", None, False),
    ("classification", CLASS_OUT, "shipping", 1, False),  # the label wins over the thumb
    ("classification", CLASS_OUT, None, 1, True),
    ("classification", CLASS_OUT, None, -1, False),
    ("classification", CLASS_OUT, None, None, None),
    ("multilabel", MULTI_OUT, ["urgent", "refund"], None, True),  # order does not matter
    ("multilabel", MULTI_OUT, ["refund"], None, False),
    ("multilabel", MULTI_OUT, "refund", None, False),
    ("multilabel", {"labels": ["refund"], "scores": {"refund": 0.9}}, "refund", None, True),
    ("multilabel", {"labels": [], "scores": {"refund": 0.1}}, [], None, True),
    ("ner", NER_OUT, [{"start": 14, "end": 19, "label": "LOC"}, {"start": 0, "end": 5, "label": "PER"}], None, True),
    ("ner", NER_OUT, [{"start": 0, "end": 5, "label": "PER"}], None, False),
    ("ner", NER_OUT, [{"start": 0, "end": 5, "label": "LOC"}, {"start": 14, "end": 19, "label": "LOC"}], None, False),
    ("ner", NER_OUT, None, -1, False),
    (None, {"answer": "no task reads this"}, "refund", 1, True),  # no task: only the thumb can judge
])
def test_feedback_correct_judgement(task: str | None, output: dict, label: Any, thumb: int | None,
                                    expected: bool | None) -> None:
    assert feedback_correct(get_task(task) if task else None, output, label, thumb) is expected


def test_add_feedback_per_task(intents: Store) -> None:
    intents.log_predictions([record("c", CLASS_OUT), record("m", MULTI_OUT, model="tags"),
                             record("n", NER_OUT, model="entities", version=3)])
    assert intents.add_feedback("c", label="refund", key_id="k1")["correct"] is True
    assert intents.add_feedback("c", label="password")["correct"] is False
    assert intents.add_feedback("c", thumb=1)["correct"] is True
    assert intents.add_feedback("c", thumb=-1, comment="wrong")["correct"] is False
    assert intents.add_feedback("c", comment="just a note")["correct"] is None
    assert intents.add_feedback("m", label=["urgent", "refund"])["correct"] is True
    assert intents.add_feedback("m", label=["shipping"])["correct"] is False
    spans = [{"start": 0, "end": 5, "label": "PER"}, {"start": 14, "end": 19, "label": "LOC"}]
    row = intents.add_feedback("n", label=spans)
    assert row["correct"] is True and (row["model"], row["version"]) == ("entities", 3)
    assert intents.add_feedback("n", label=spans[:1])["correct"] is False
    assert intents.add_feedback("n", thumb=1)["correct"] is True

    stored = intents.list_feedback(prediction_id="c")
    assert [f["correct"] for f in stored] == [True, False, True, False, None]
    assert stored[0]["label"] == "refund" and stored[0]["key_id"] == "k1"
    assert stored[3]["comment"] == "wrong" and stored[3]["thumb"] == -1
    assert intents.list_feedback(model="entities")[0]["label"] == spans
    assert len(intents.list_feedback(model="tags")) == 2
    assert len(intents.list_feedback(version=3)) == 3


def test_add_feedback_validation(intents: Store) -> None:
    intents.log_predictions([record("c", CLASS_OUT)])
    with pytest.raises(UsageError):
        intents.add_feedback("c")
    with pytest.raises(UsageError):
        intents.add_feedback("c", comment="")
    for thumb in (0, 2, -2):
        with pytest.raises(UsageError):
            intents.add_feedback("c", thumb=thumb)
    with pytest.raises(NotFoundError):
        intents.add_feedback("nope", label="refund")
    assert intents.list_feedback() == []


def test_add_feedback_with_a_label_of_the_wrong_shape(intents: Store) -> None:
    intents.log_predictions([record("n", NER_OUT, model="entities"), record("m", MULTI_OUT, model="tags")])
    for pid, label in (("n", "PER"), ("n", ["PER", "LOC"]), ("m", [{"start": 0, "end": 5, "label": "PER"}])):
        with pytest.raises(UsageError):
            intents.add_feedback(pid, label=label)


def test_feedback_counts_only_latest_judged_feedback(intents: Store) -> None:
    intents.log_predictions([record("a", CLASS_OUT), record("b", CLASS_OUT), record("c", CLASS_OUT, version=2),
                             record("d", CLASS_OUT, version=2), record("o", CLASS_OUT, model="other")])
    intents.add_feedback("a", label="shipping")  # wrong ...
    intents.add_feedback("a", label="refund")  # ... then corrected: only this one counts
    intents.add_feedback("b", thumb=1)
    intents.add_feedback("b", thumb=-1)  # latest: wrong
    intents.add_feedback("c", thumb=1)
    intents.add_feedback("c", comment="fine")  # not a judgement: the thumb above still counts
    intents.add_feedback("d", comment="no verdict")  # never judged: not counted
    intents.add_feedback("o", thumb=1)  # another model
    assert intents.feedback_counts("intents") == {1: (1, 2), 2: (1, 1)}
    assert intents.feedback_counts("other") == {1: (1, 1)}
    assert intents.feedback_counts("nothing") == {}


ANSWER_OUT = {"label": "refund", "score": 0.4, "route": "handoff", "answer": None, "evidence": {}}


def test_model_views_see_only_model_predictions(intents: Store) -> None:
    """An application's answers (kind 'assistant', here from an assistant named like the model) share the log
    and take feedback, but the model views never see them: no review-queue row, no A/B count, no 404 on a
    version that does not exist."""
    intents.log_predictions([record("m1", CLASS_OUT), record("m2", CLASS_OUT, version=2)])
    intents.log_predictions([record("a1", ANSWER_OUT), record("a2", ANSWER_OUT, model="support", version=7)],
                            kind="assistant")
    assert intents.get_prediction("m1")["kind"] == "model"
    assert intents.get_prediction("a1")["kind"] == "assistant"  # by id: any kind (feedback finds it)
    assert intents.get_prediction("a1", kind="assistant")["id"] == "a1"
    with pytest.raises(NotFoundError, match="of kind 'model'"):
        intents.get_prediction("a1", kind="model")

    assert {p["id"] for p in intents.list_predictions()} == {"m1", "m2"}
    assert {p["id"] for p in intents.list_predictions(model="intents", max_score=0.9)} == {"m1", "m2"}
    assert {p["id"] for p in intents.list_predictions(kind="assistant")} == {"a1", "a2"}
    assert {p["id"] for p in intents.list_predictions(kind=None)} == {"m1", "m2", "a1", "a2"}

    assert intents.add_feedback("a1", thumb=-1)["correct"] is False  # feedback on an answer still works
    intents.add_feedback("a2", thumb=-1)
    intents.add_feedback("m1", thumb=1)
    assert [f["prediction_id"] for f in intents.list_feedback()] == ["m1"]
    assert [f["prediction_id"] for f in intents.list_feedback(model="intents")] == ["m1"]
    assert [f["prediction_id"] for f in intents.list_feedback(kind="assistant")] == ["a1", "a2"]
    assert [f["prediction_id"] for f in intents.list_feedback(prediction_id="a1")] == ["a1"]  # by id: any kind
    assert len(intents.list_feedback(kind=None)) == 3
    assert intents.feedback_counts("intents") == {1: (1, 1)}  # the thumb on the answer "a1" does not count
    assert intents.feedback_counts("intents", kind="assistant") == {1: (0, 1)}
    assert intents.feedback_counts("support") == {}
    for view in (intents.list_predictions(), intents.list_predictions(without_feedback=False, max_score=1.0)):
        for prediction in view:  # what the dashboard's review queue does with each row: no 404
            intents.get_version(prediction["model"], prediction["version"])
    for row in intents.list_feedback():
        intents.get_version(row["model"], row["version"])

    for bad in ("", "Model", "x" * 17, "a-b", "kind;drop"):
        with pytest.raises(UsageError, match="prediction kind"):
            intents.log_predictions([record("z", CLASS_OUT)], kind=bad)
        with pytest.raises(UsageError, match="prediction kind"):
            intents.list_predictions(kind=bad)
    assert intents.purge_predictions(now() + timedelta(seconds=5)) == 1  # retention covers every kind ...
    assert {p["id"] for p in intents.list_predictions(kind=None)} == {"m1", "a1", "a2"}  # ... feedback keeps rows


# ---- API keys --------------------------------------------------------------------------------------------------


def test_create_key_stores_only_the_hash(store: Store) -> None:
    info, token = store.create_key("partner-x", "predict,feedback", rate_per_s=5.0, burst=10)
    prefix, key_id, secret = token.split("_", 2)
    assert prefix == "tl" and key_id == info.id and len(secret) >= 32
    assert info.name == "partner-x" and info.scopes == ("predict", "feedback")
    assert (info.rate_per_s, info.burst, info.revoked_at) == (5.0, 10, None)
    assert info.hash == hashlib.sha256(secret.encode()).hexdigest()
    assert "hash" not in info.to_dict() and secret not in str(info.to_dict())
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(t.api_keys).where(t.api_keys.c.id == key_id)).one()
        usage = conn.execute(sa.select(t.key_usage).where(t.key_usage.c.key_id == key_id)).one()
    assert secret not in str(tuple(row)) and token not in str(tuple(row)) and secret not in str(tuple(usage))
    assert row.hash == info.hash
    assert store.get_key("partner-x").id == key_id == store.get_key(key_id).id
    assert info.usage == {"requests": 0, "texts": 0, "tokens": 0, "errors": 0, "last_used_at": None}

    other, other_token = store.create_key("ops", ["admin"])
    assert other_token != token and other.id != info.id and other.rate_per_s is None
    assert [k.name for k in store.list_keys()] == ["partner-x", "ops"]


def test_create_key_validation(store: Store) -> None:
    store.create_key("partner-x", "predict")
    with pytest.raises(ConflictError):
        store.create_key("partner-x", "admin")
    for scopes in ("", "root", ["predict", "write"]):
        with pytest.raises(UsageError):
            store.create_key("fresh", scopes)
    with pytest.raises(UsageError):
        store.create_key("Bad Name", "predict")
    assert [k.name for k in store.list_keys()] == ["partner-x"]
    with pytest.raises(NotFoundError):
        store.get_key("nope")


def test_revoke_key_and_usage(store: Store) -> None:
    info, _ = store.create_key("partner-x", "predict")
    keep, _ = store.create_key("keeper", "predict")
    revoked = store.revoke_key("partner-x")
    assert revoked.id == info.id and revoked.revoked_at is not None
    assert store.revoke_key(info.id).revoked_at == revoked.revoked_at  # revoking again changes nothing
    assert store.get_key("keeper").revoked_at is None
    with pytest.raises(NotFoundError):
        store.revoke_key("nope")

    store.add_usage({keep.id: {"requests": 2, "texts": 5, "tokens": 40}})
    store.add_usage({keep.id: {"requests": 1, "texts": 1, "tokens": 7, "errors": 1}, info.id: {"errors": 3}})
    store.add_usage({})
    usage = store.get_key("keeper").usage
    assert {k: usage[k] for k in ("requests", "texts", "tokens", "errors")} == {
        "requests": 3, "texts": 6, "tokens": 47, "errors": 1}
    assert usage["last_used_at"] is not None
    assert store.get_key(info.id).usage["errors"] == 3


# ---- migrations ------------------------------------------------------------------------------------------------


def test_migrations_are_idempotent_and_at_head(store: Store, served_runs: dict[str, Path]) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head and current_revision(store.engine) == head

    store.register(served_runs["intents_a"], "intents", alias="production")
    again = Store(store.url)  # migrating an up-to-date database changes nothing
    try:
        assert current_revision(again.engine) == head
        assert again.get_model("intents").aliases == {"production": 1}
        expected = {"models", "versions", "aliases", "alias_events", "splits", "predictions", "feedback",
                    "api_keys", "key_usage", "alembic_version"}
        assert expected <= set(sa.inspect(again.engine).get_table_names())
    finally:
        again.close()
    plain = Store(store.url, migrate_schema=False)
    try:
        assert plain.get_version("intents", 1).version == 1
    finally:
        plain.close()
