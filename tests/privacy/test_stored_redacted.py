"""Server policy `privacy_redact`: texts are redacted before they are stored (prediction log, feedback comments,
assistant turns and hand-offs, monitor items) while the model still sees, and answers on, the original text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.serving.conftest import make_server  # noqa: F401 - the fixture, for this folder's tests
from tunelab.errors import ConfigError
from tunelab.privacy import RedactionPolicy, Redactor
from tunelab.privacy.policies import Redactors
from tunelab.serving import load_settings

TEXT = "refund please, card 4111 1111 1111 1111, mail jane.doe@example.com"
STORED = "refund please, card [CARD], mail [EMAIL]"


def raw_texts(url: str, table: str, column: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(sa.text(f"SELECT {column} FROM {table}"))]  # noqa: S608
    finally:
        engine.dispose()


def test_predictions_and_feedback_are_stored_redacted_and_predictions_unchanged(make_server: Any,  # noqa: F811
                                                                                tmp_path: Path) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.serialize import prediction_to_dict

    server = make_server(privacy_redact=["email", "card"])
    answer = server.client.post("/v1/models/intents/predict", json={"inputs": [TEXT]}, headers=server.headers())
    assert answer.status_code == 200, answer.text
    predicted = answer.json()["predictions"][0]
    run = server.store.get_version("intents", answer.json()["version"]).run_path
    direct = prediction_to_dict(Predictor.load(run).predict([TEXT])[0])
    assert predicted["label"] == direct["label"]  # the model saw the original text
    assert predicted["probabilities"] == pytest.approx(direct["probabilities"], abs=1e-4)
    logged = server.client.get(f"/v1/predictions/{predicted['id']}", headers=server.headers()).json()
    assert logged["text"] == STORED
    feedback = server.client.post("/v1/feedback", headers=server.headers("feedback"),
                                  json={"prediction_id": predicted["id"], "thumb": -1,
                                        "comment": "wrong, call me at +86 138 1234 5678 or jane.doe@example.com"})
    assert feedback.status_code == 201, feedback.text
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    assert raw_texts(url, "predictions", "text") == [STORED]
    assert raw_texts(url, "feedback", "comment") == ["wrong, call me at +86 138 1234 5678 or [EMAIL]"]


def test_without_a_policy_texts_are_stored_as_sent(make_server: Any) -> None:  # noqa: F811
    server = make_server()
    answer = server.client.post("/v1/models/intents/predict", json={"inputs": [TEXT]}, headers=server.headers())
    pid = answer.json()["predictions"][0]["id"]
    assert server.store.get_prediction(pid)["text"] == TEXT


def test_settings_name_bad_privacy_values() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"TUNELAB_PRIVACY_REDACT": "email,emails", "TUNELAB_PRIVACY_MODE": "blur"})
    message = str(caught.value)
    assert "privacy_redact" in message and "emails" in message and "privacy_mode" in message
    with pytest.raises(ConfigError, match="privacy_ner_model"):
        load_settings(env={"TUNELAB_PRIVACY_REDACT": "email,person"})
    assert load_settings(env={"TUNELAB_PRIVACY_REDACT": "email,card"}).privacy_redact == ("email", "card")


def test_assistant_turns_and_handoffs_are_stored_redacted(tmp_path: Path, built: Path) -> None:
    from tunelab.apps.assistant.calibrate import NEVER, Thresholds
    from tunelab.apps.assistant.desk import Desk
    from tunelab.apps.assistant.store import AssistantStore
    from tunelab.registry import Store

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    store = Store(url)
    AssistantStore(store).register(built, "support")
    desk = Desk(store, redactors=Redactors(Redactor(RedactionPolicy(types=("email", "card")))))
    desk.loaded(desk.assistants.get("support")).thresholds = Thresholds(NEVER, NEVER)  # every answer a hand-off
    reply = desk.ask("support", TEXT)
    assert reply.answer.question == TEXT and reply.handoff_id is not None
    assert [t.question for t in desk.assistants.conversation("support", reply.conversation_id)] == [STORED]
    assert desk.assistants.handoff("support", reply.handoff_id).question == STORED
    assert store.get_prediction(reply.id)["text"] == STORED
    resolved = desk.resolve("support", reply.handoff_id, "out_of_scope", reply="mailed jane.doe@example.com")
    assert resolved.reply == "mailed [EMAIL]"
    store.close()


def test_monitor_items_are_stored_redacted(tmp_path: Path) -> None:
    from tests.apps.monitor.conftest import KeywordClassifier, event, monitor_raw
    from tunelab.apps.monitor.hub import MonitorHub
    from tunelab.registry import Store

    store = Store(f"sqlite:///{tmp_path / 'registry.db'}")
    hub = MonitorHub(store, classifier=KeywordClassifier(),
                     redactors=Redactors(Redactor(RedactionPolicy(types=("email",)))))
    monitor = hub.define("markets", monitor_raw())
    monitor.max_clock_skew_s = None  # the fixture's events are stamped in 2026
    monitor.ingest([event("$ACME plunges, tips to insider@acme.example", 0)])
    items = hub.store.list_items("markets")
    assert [i["text"] for i in items] == ["$ACME plunges, tips to [EMAIL]"]
    assert list(items[0]["tickers"]) == ["ACME"]  # found in the original text
    hub.close()
    store.close()


def test_ner_outputs_are_stored_on_the_redacted_text(make_server: Any) -> None:  # noqa: F811
    server = make_server(privacy_redact=["email"])
    text = "Bob Smith works at Acme, mail bob@acme.example, Alice visited Paris"
    answer = server.client.post("/v1/models/entities/predict", json={"inputs": [text]}, headers=server.headers())
    assert answer.status_code == 200, answer.text
    sent = answer.json()["predictions"][0]
    assert sent["spans"] and all(text[s["start"]:s["end"]] == s["text"] for s in sent["spans"])  # original offsets
    logged = server.store.get_prediction(sent["id"])
    stored = logged["text"]
    assert stored == "Bob Smith works at Acme, mail [EMAIL], Alice visited Paris"
    assert len(logged["output"]["spans"]) == len(sent["spans"])
    for before, after in zip(sent["spans"], logged["output"]["spans"]):
        assert stored[after["start"]:after["end"]] == after["text"] and "bob@acme" not in after["text"]
        if before["end"] <= text.index("bob@"):
            assert after == before
        elif before["start"] >= text.index(", Alice"):
            assert after["text"] == before["text"] and after["start"] < before["start"]
