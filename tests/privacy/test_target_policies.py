"""Per-target privacy policies: a model, an assistant or a monitor with its own policy stores its texts redacted by
it, the others by the server's; bad policies are 4xx naming the field; every write is in the audit log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.serving.conftest import make_server  # noqa: F401 - the fixture, for this folder's tests
from tunelab.privacy import RedactionPolicy, Redactor
from tunelab.privacy.policies import PolicyStore, Redactors
from tunelab.registry.audit import entries

TEXT = "refund please, card 4111 1111 1111 1111, mail jane.doe@example.com"
STORED = "refund please, card [CARD], mail [EMAIL]"  # the server's policy: email and card, masked
OWN = "refund please, card , mail jane.doe@example.com"  # the override: card only, dropped
URL = "/v1/privacy/policies/model/tags"


def predict(server: Any, model: str) -> str:
    """The prediction id."""
    answer = server.client.post(f"/v1/models/{model}/predict", json={"inputs": [TEXT]}, headers=server.headers())
    assert answer.status_code == 200, answer.text
    return str(answer.json()["predictions"][0]["id"])


def stored_text(server: Any, model: str) -> str:
    return str(server.store.get_prediction(predict(server, model))["text"])


def stored_comment(server: Any, model: str) -> str:
    body = {"prediction_id": predict(server, model), "thumb": -1, "comment": TEXT}
    sent = server.client.post("/v1/feedback", json=body, headers=server.headers("feedback"))
    assert sent.status_code == 201, sent.text
    return str(sent.json()["comment"])


def test_a_model_with_its_own_policy_stores_by_it_and_others_by_the_server(make_server: Any) -> None:  # noqa: F811
    server = make_server(privacy_redact=["email", "card"])
    assert stored_text(server, "tags") == STORED
    put = server.client.put(URL, json={"types": ["card"], "mode": "drop"}, headers=server.headers("admin"))
    assert put.status_code == 200, put.text
    assert put.json()["types"] == ["card"] and put.json()["mode"] == "drop"
    assert stored_text(server, "tags") == OWN  # the cached default Redactor was dropped by the write
    assert stored_text(server, "intents") == STORED
    assert (stored_comment(server, "tags"), stored_comment(server, "intents")) == (OWN, STORED)
    shown = server.client.get(URL, headers=server.headers("admin")).json()
    assert (shown["kind"], shown["name"], shown["types"]) == ("model", "tags", ["card"])
    listed = server.client.get("/v1/privacy/policies", headers=server.headers("admin")).json()["policies"]
    assert [(p["kind"], p["name"]) for p in listed] == [("model", "tags")]
    assert server.client.delete(URL, headers=server.headers("admin")).status_code == 200
    assert stored_text(server, "tags") == STORED
    assert server.client.get(URL, headers=server.headers("admin")).status_code == 404


def test_an_empty_override_stores_a_models_texts_as_sent(make_server: Any) -> None:  # noqa: F811
    server = make_server(privacy_redact=["email", "card"])
    put = server.client.put(URL, json={"types": [], "mode": "hash"}, headers=server.headers("admin"))
    assert put.status_code == 200, put.text  # no types: nothing to hash, no salt needed
    assert stored_text(server, "tags") == TEXT
    assert stored_text(server, "intents") == STORED


def test_writes_are_in_the_audit_log_with_the_admin_key(make_server: Any) -> None:  # noqa: F811
    server = make_server()
    server.client.put(URL, json={"types": ["email"], "mode": "mask"}, headers=server.headers("admin"))
    server.client.delete(URL, headers=server.headers("admin"))
    found = entries(server.store.engine, action="privacy.set")
    assert len(found) == 1 and found[0].target == "model:tags" and found[0].actor.startswith("k-admin")
    assert found[0].details["types"] == ["email"] and found[0].details["mode"] == "mask"
    deleted = entries(server.store.engine, action="privacy.delete")
    assert len(deleted) == 1 and deleted[0].target == "model:tags"


def test_bad_policies_are_4xx_naming_the_field(make_server: Any) -> None:  # noqa: F811
    server = make_server()
    admin = server.headers("admin")
    bad_type = server.client.put(URL, json={"types": ["email", "emails"]}, headers=admin)
    assert bad_type.status_code == 422 and bad_type.json()["message"].startswith("types")
    assert "emails" in bad_type.json()["message"]
    bad_mode = server.client.put(URL, json={"types": ["email"], "mode": "blur"}, headers=admin)
    assert bad_mode.status_code == 422 and bad_mode.json()["message"].startswith("mode")
    no_ner = server.client.put(URL, json={"types": ["email", "person"]}, headers=admin)
    assert no_ner.status_code == 400 and no_ner.json()["message"].startswith("types")
    assert "NER" in no_ner.json()["message"]
    bad_kind = server.client.put("/v1/privacy/policies/table/x", json={"types": ["email"]}, headers=admin)
    assert bad_kind.status_code == 422
    not_admin = server.client.put(URL, json={"types": ["email"]}, headers=server.headers("predict"))
    assert not_admin.status_code == 403
    assert server.client.get("/v1/privacy/policies", headers=admin).json()["policies"] == []
    assert entries(server.store.engine, action="privacy.set") == []


def test_an_assistant_with_its_own_policy(tmp_path: Path, built: Path) -> None:
    from tunelab.apps.assistant.desk import Desk
    from tunelab.apps.assistant.store import AssistantStore
    from tunelab.registry import Store

    store = Store(f"sqlite:///{tmp_path / 'registry.db'}")
    AssistantStore(store).register(built, "support")
    AssistantStore(store).register(built, "sales")
    policies = PolicyStore(store.engine)
    policies.set("assistant", "support", RedactionPolicy(types=("card",), mode="drop"), actor="test")
    desk = Desk(store, redactors=Redactors(Redactor(RedactionPolicy(types=("email", "card"))), policies))
    own, other = desk.ask("support", TEXT), desk.ask("sales", TEXT)
    assert [t.question for t in desk.assistants.conversation("support", own.conversation_id)] == [OWN]
    assert [t.question for t in desk.assistants.conversation("sales", other.conversation_id)] == [STORED]
    assert store.get_prediction(own.id)["text"] == OWN
    store.close()


def test_a_monitor_with_its_own_policy(tmp_path: Path) -> None:
    from tests.apps.monitor.conftest import KeywordClassifier, event, monitor_raw
    from tunelab.apps.monitor.hub import MonitorHub
    from tunelab.registry import Store

    store = Store(f"sqlite:///{tmp_path / 'registry.db'}")
    policies = PolicyStore(store.engine)
    redactors = Redactors(Redactor(RedactionPolicy(types=("email",))), policies)
    hub = MonitorHub(store, classifier=KeywordClassifier(), redactors=redactors)
    for name in ("markets", "quiet"):
        hub.define(name, {**monitor_raw(), "name": name})
    policies.set("monitor", "quiet", RedactionPolicy(types=()), actor="test")
    redactors.forget_all()
    hub.forget_all()
    for name in ("markets", "quiet"):
        monitor = hub.get(name)
        monitor.max_clock_skew_s = None
        monitor.ingest([event("$ACME plunges, tips to insider@acme.example", 0)])
    assert [i["text"] for i in hub.store.list_items("markets")] == ["$ACME plunges, tips to [EMAIL]"]
    assert [i["text"] for i in hub.store.list_items("quiet")] == ["$ACME plunges, tips to insider@acme.example"]
    hub.close()
    store.close()


def test_a_stored_policy_the_server_cannot_apply_refuses_before_storing(make_server: Any) -> None:  # noqa: F811
    server = make_server(privacy_redact=["email"])
    PolicyStore(server.store.engine).set("model", "tags", RedactionPolicy(types=("person",)), actor="another-server")
    refused = server.client.post("/v1/models/tags/predict", json={"inputs": [TEXT]}, headers=server.headers())
    assert refused.status_code == 400 and "privacy policy of model 'tags'" in refused.json()["message"]
    assert server.store.list_predictions(model="tags") == []  # fail closed: nothing stored unredacted
    assert stored_text(server, "intents") == "refund please, card 4111 1111 1111 1111, mail [EMAIL]"


def test_another_replica_sees_a_written_policy(make_server: Any) -> None:  # noqa: F811
    first = make_server(privacy_redact=["email", "card"])
    second = make_server(db_url=str(first.store.engine.url), privacy_redact=["email", "card"])
    assert stored_text(second, "tags") == STORED  # cached: the server's policy
    put = first.client.put(URL, json={"types": ["card"], "mode": "drop"}, headers=first.headers("admin"))
    assert put.status_code == 200, put.text
    deadline = time.monotonic() + 5.0
    while stored_text(second, "tags") != OWN:  # the change counter, polled every CHANGE_POLL_S
        assert time.monotonic() < deadline, "the other replica kept its cached Redactor"
        time.sleep(0.2)


def test_the_cli_sets_shows_and_deletes_a_policy_with_audit_entries(tmp_path: Path, monkeypatch: Any,
                                                                     capsys: Any) -> None:
    from tests.conftest import invoke_cli, isolated_cli_env
    from tunelab.registry import Store

    db = isolated_cli_env(tmp_path, monkeypatch)

    def cli(*args: str) -> Any:
        return invoke_cli(["privacy", "policy", *args, "--db", db], monkeypatch, capsys)

    done = cli("set", "assistant", "support", "--redact", "email,phone", "--mode", "hash")
    assert done.code == 0, done.err
    assert "assistant support: redact email,phone, mode hash" in done.out
    assert cli("show", "assistant", "support").out.startswith("assistant support: redact email,phone")
    bad_type = cli("set", "model", "intents", "--redact", "email,emails")
    assert bad_type.code == 2 and "--redact" in bad_type.err and "emails" in bad_type.err
    bad_mode = cli("set", "model", "intents", "--redact", "email", "--mode", "blur")
    assert bad_mode.code == 2 and "--mode" in bad_mode.err
    no_ner = cli("set", "model", "intents", "--redact", "person")
    assert no_ner.code == 2 and "NER model" in no_ner.err
    bad_kind = cli("set", "table", "x", "--redact", "email")
    assert bad_kind.code == 2 and "kind" in bad_kind.err
    assert cli("delete", "assistant", "support").code == 0
    assert cli("show", "assistant", "support").code == 2
    store = Store(db)
    actions = [(e.action, e.target, e.actor) for e in entries(store.engine) if e.action.startswith("privacy.")]
    assert actions == [("privacy.delete", "assistant:support", "cli"), ("privacy.set", "assistant:support", "cli")]
    store.close()
