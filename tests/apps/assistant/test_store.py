"""The assistant's store on SQLite and PostgreSQL: registered versions, turns logged as predictions, the
hand-off queue, resolution into feedback and training examples."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from tunelab.apps.assistant import tables
from tunelab.apps.assistant.desk import Desk, build_registered
from tunelab.apps.assistant.kb import OUT_OF_SCOPE
from tunelab.apps.assistant.router import Answer
from tunelab.apps.assistant.store import AssistantStore
from tunelab.errors import ConflictError, IncompleteRunError, NotFoundError, UsageError
from tunelab.registry import Store
from tunelab.registry.store import now


@pytest.fixture
def store(registry: Store) -> Store:
    return registry


def handoff_answer(question: str) -> Answer:
    return Answer(question, "handoff", OUT_OF_SCOPE, None, 0.3, {"best": {"kind": "intent", "id": "refund"}})


def test_register_versions_and_lookup(store: Store, built: Path, tmp_path: Path) -> None:
    assistants = AssistantStore(store)
    first, second = assistants.register(built, "support"), assistants.register(built, "support")
    assert (first.version, second.version) == (1, 2)
    assert assistants.get("support").version == 2 and assistants.get("support", 1).path == str(built.resolve())
    assert first.thresholds.keys() == {"intent", "faq", "ood"}
    assert [(v.name, v.version) for v in assistants.list()] == [("support", 1), ("support", 2)]
    with pytest.raises(NotFoundError):
        assistants.get("other")
    with pytest.raises(NotFoundError):
        assistants.get("support", 9)
    with pytest.raises(IncompleteRunError):
        assistants.register(tmp_path, "support")
    with pytest.raises(UsageError):
        assistants.register(built, "../evil")


def test_turns_handoffs_feedback_and_examples(store: Store, built: Path) -> None:
    assistants = AssistantStore(store)
    version = assistants.register(built, "support")
    turn = uuid.uuid4().hex
    handoff_id = assistants.log_turn(turn, version, "conv-1", handoff_answer("can i pay in gold?"), latency_ms=3.0)
    answered = Answer("hello world", "faq", "hello", "Hi.", 0.99, {})
    assert assistants.log_turn(uuid.uuid4().hex, version, "conv-1", answered, latency_ms=2.0) is None
    prediction = store.get_prediction(turn)  # the answer is a prediction: feedback works on its id
    assert prediction["output"]["route"] == "handoff" and prediction["score"] == pytest.approx(0.3)
    assert prediction["kind"] == "assistant" and prediction["model"] == "support"
    assert store.list_predictions() == []  # not a model's prediction: model views never see it
    assert len(store.list_predictions(kind="assistant")) == 2
    assert [t.route for t in assistants.conversation("support", "conv-1")] == ["handoff", "faq"]
    queue = assistants.handoffs("support")
    assert [h.id for h in queue] == [handoff_id] and queue[0].question == "can i pay in gold?"
    desk = Desk(store)
    with pytest.raises(UsageError, match="not an intent or FAQ id"):
        desk.resolve("support", handoff_id, "gold")
    resolved = desk.resolve("support", handoff_id, "refund", reply="Yes, by card.", actor="agent")
    assert resolved.status == "resolved" and resolved.label == "refund" and resolved.resolved_at
    assert assistants.handoffs("support") == [] and len(assistants.handoffs("support", None)) == 1
    feedback = store.list_feedback(prediction_id=turn)
    assert feedback[0]["label"] == "refund" and feedback[0]["correct"] is False  # it should not have handed off
    assert assistants.resolved_examples("support") == [("can i pay in gold?", "refund")]
    with pytest.raises(ConflictError):
        desk.resolve("support", handoff_id, "refund")
    with pytest.raises(NotFoundError):
        desk.resolve("support", 999, "refund")


def test_a_turn_and_its_prediction_are_written_together(store: Store, built: Path) -> None:
    """The prediction (through the registry's Store) and the turn share one transaction: when the turn cannot
    be written, no prediction is left behind."""
    assistants = AssistantStore(store)
    version = assistants.register(built, "support")
    taken = uuid.uuid4().hex
    with store.engine.begin() as conn:  # a turn id already used (without a logged prediction)
        conn.execute(tables.assistant_turns.insert().values(
            id=taken, assistant="support", version=1, conversation_id="c", question="q", route="faq", label="hello",
            answer="Hi.", confidence=0.9, created_at=now()))
    with pytest.raises(IntegrityError):
        assistants.log_turn(taken, version, "c", Answer("hello world", "faq", "hello", "Hi.", 0.99, {}),
                            latency_ms=1.0)
    with pytest.raises(NotFoundError):
        store.get_prediction(taken)


def test_desk_asks_and_logs(store: Store, built: Path) -> None:
    AssistantStore(store).register(built, "support")
    desk = Desk(store)
    reply = desk.ask("support", "hello world")
    again = desk.ask("support", "i forgot my password", reply.conversation_id)
    assert again.conversation_id == reply.conversation_id and len(reply.conversation_id) == 32
    turns = desk.assistants.conversation("support", reply.conversation_id)
    assert [t.id for t in turns] == [reply.id, again.id]
    assert store.get_prediction(reply.id)["output"]["label"] == reply.answer.label
    assert (reply.handoff_id is not None) == (reply.answer.route == "handoff")
    for bad in ("", "   ", "x" * 5000):
        with pytest.raises(UsageError):
            desk.ask("support", bad)


def test_resolved_handoffs_feed_the_next_build(tmp_path: Path, built: Path, kb_file: Path, tiny_model: Path) -> None:
    from tests.apps.assistant.conftest import tiny_options

    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    assistants = AssistantStore(store)
    version = assistants.register(built, "support")
    handoff = assistants.log_turn(uuid.uuid4().hex, version, "c", handoff_answer("money back for my toaster"),
                                  latency_ms=1.0)
    Desk(store).resolve("support", handoff, "refund")
    off_topic = assistants.log_turn(uuid.uuid4().hex, version, "c", handoff_answer("is it raining"), latency_ms=1.0)
    Desk(store).resolve("support", off_topic, OUT_OF_SCOPE)  # a real out-of-scope example for calibration
    options = tiny_options(tiny_model, max_steps=2, holdout="never")
    summary, registered = build_registered(kb_file, tmp_path / "v2", options, store)
    assert summary.manifest.counts["handoff_examples"] == 2 and registered.version == 2
    assert summary.manifest.counts["out_of_scope_examples"] == 1
    assert "money back for my toaster" in (tmp_path / "v2" / "kb.json").read_text()
    store.close()
