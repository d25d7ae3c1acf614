"""Server-side tests of the assistant and monitor pages (TestClient): login, labelled controls, CSRF, a chat turn
with its route and evidence, hand-offs resolved from the queue, a monitor's alerts and chart data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.apps.monitor.conftest import KeywordClassifier, burst, calm_stream, monitor_raw
from tests.dashboard.conftest import Browser
from tests.dashboard.test_pages import unlabelled
from tunelab.apps.assistant.store import AssistantStore
from tunelab.apps.monitor.store import MonitorStore

APP_PAGES = ["/assistant", "/assistant/support", "/assistant/support/handoffs", "/monitor", "/monitor/markets"]
HOOK_URL = "http://127.0.0.1:9/hooks/secret-token"  # nothing listens on port 9: deliveries fail at once


@pytest.fixture
def apps(admin: Browser, built: Path) -> Browser:
    """Logged in; the tiny assistant registered as `support`; monitor `markets` with a calm stream and a
    bearish burst on $ACME ingested (keyword classifier, so the alerts are known)."""
    from tunelab.apps.monitor.config import parse_monitor_config
    from tunelab.apps.monitor.monitor import Monitor

    store = admin.served.store
    AssistantStore(store).register(built, "support")
    config = parse_monitor_config(monitor_raw(webhook={"url": HOOK_URL, "backoff": "1h"}), source="test")
    monitor = Monitor.open(config, store, KeywordClassifier())
    monitor.ingest(calm_stream(hours=6, tickers=("AAPL", "MSFT")) + burst("ACME", start_min=300, count=6))
    return admin


def force_handoffs(browser: Browser) -> None:
    """Thresholds nobody reaches on the server's loaded assistant: every answer is a hand-off."""
    from tunelab.apps.assistant.calibrate import NEVER, Thresholds

    desk = browser.served.state.desk
    desk.loaded(desk.assistants.get("support")).thresholds = Thresholds(NEVER, NEVER)


def ask(browser: Browser, question: str, conversation: str = "") -> Any:
    response = browser.post("/assistant/support/ask", {"question": question, "conversation": conversation})
    assert response.status_code == 303, response.text
    return response


def test_app_pages_need_login(dash: Browser) -> None:
    for page in APP_PAGES:
        response = dash.client.get(page, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), page


def test_pages_render_in_the_nav_with_labelled_controls(apps: Browser) -> None:
    force_handoffs(apps)
    ask(apps, "can i pay with seashells")  # a hand-off: the queue page shows its resolve form
    for page in APP_PAGES + ["/monitor/markets/alerts/1"]:
        response = apps.get(page)
        assert response.status_code == 200, (page, response.text[:500])
        assert 'href="/assistant"' in response.text and 'href="/monitor"' in response.text
        assert unlabelled(response.text) == [], page
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert 'aria-current="page"' in apps.get("/monitor").text
    listing = apps.get("/assistant").text
    assert 'href="/assistant/support"' in listing and "v1" in listing


def test_chat_turn_shows_route_confidence_evidence_and_keeps_the_conversation(apps: Browser) -> None:
    first = ask(apps, "hello world")
    target = first.headers["location"]
    conversation = re.search(r"conversation=([0-9a-f]+)", target).group(1)  # type: ignore[union-attr]
    ask(apps, "please refund my order", conversation)
    page = apps.get(f"/assistant/support?conversation={conversation}").text
    turns = AssistantStore(apps.served.store).conversation("support", conversation)
    assert [t.question for t in turns] == ["hello world", "please refund my order"]
    for turn in turns:
        block = page[page.index(f'id="turn-{turn.id}"'):]
        block = block[:block.index("</li>")]
        assert f'data-route="{turn.route}"' in block and f"route-{turn.route}" in block
        assert f"{turn.confidence:.3f}" in block and "Evidence" in block
        if turn.route == "intent":
            assert "intent probability" in block and "Top intents" in block
        elif turn.route == "faq":
            assert "similarity" in block and "nearest phrasing" in block
        evidence = apps.served.store.get_prediction(turn.id)["output"]["evidence"]["out_of_scope"]
        assert f'<span class="ood-threshold">{evidence["threshold"]:.4g}</span>' in block
        assert "Out-of-scope scores" in block and all(f'<th scope="row">{name}</th>' in block
                                                      for name in ("mahalanobis", "knn", "energy", "msp", "faq"))
    assert f'name="conversation" value="{conversation}"' in page  # the next question stays in it
    assert apps.served.store.get_prediction(turns[0].id)["model"] == "support"  # logged like an API answer


def test_csrf_is_enforced_on_ask_and_resolve(apps: Browser) -> None:
    force_handoffs(apps)
    apps.get("/assistant/support")
    missing = apps.client.post("/assistant/support/ask", data={"question": "hello world"}, follow_redirects=False)
    wrong = apps.client.post("/assistant/support/ask", data={"question": "hello world", "csrf": "forged"},
                             follow_redirects=False)
    assert missing.status_code == 403 and wrong.status_code == 403 and "security token" in wrong.text
    assert AssistantStore(apps.served.store).handoffs("support") == []  # nothing was asked
    ask(apps, "can i pay with seashells")
    handoff = AssistantStore(apps.served.store).handoffs("support")[0]
    forged = apps.client.post(f"/assistant/support/handoffs/{handoff.id}/resolve",
                              data={"label": "refund", "csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert [h.id for h in AssistantStore(apps.served.store).handoffs("support")] == [handoff.id]


def test_handoff_shows_suggestions_and_resolving_it_empties_the_queue(apps: Browser) -> None:
    force_handoffs(apps)
    target = ask(apps, "can i pay with seashells").headers["location"]
    chat = apps.get(target.split("#")[0]).text
    assert 'data-route="handoff"' in chat and "Top 3 suggestions" in chat and "hand-off #" in chat
    queue = apps.get("/assistant/support/handoffs").text
    handoff = AssistantStore(apps.served.store).handoffs("support")[0]
    assert f'id="handoff-{handoff.id}"' in queue and "can i pay with seashells" in queue
    assert queue.count("<option") >= 6 and "<option>out_of_scope</option>" in queue  # intents, FAQ ids, oos
    bad = apps.post(f"/assistant/support/handoffs/{handoff.id}/resolve", {"label": "no_such_intent"})
    assert bad.status_code == 400 and "no_such_intent" in bad.text  # the Desk's check, shown as a page
    done = apps.post(f"/assistant/support/handoffs/{handoff.id}/resolve",
                     {"label": "refund", "reply": "We take cards only."})
    assert done.status_code == 303 and done.headers["location"] == "/assistant/support/handoffs"
    after = apps.get("/assistant/support/handoffs").text
    assert 'id="queue-empty"' in after and f'id="handoff-{handoff.id}"' not in after
    assert "We take cards only." in after  # in the recently resolved table
    assistants = AssistantStore(apps.served.store)
    assert assistants.resolved_examples("support") == [("can i pay with seashells", "refund")]  # next build's data
    feedback = apps.served.store.list_feedback(model="support", kind="assistant")
    assert [(f["prediction_id"], f["label"]) for f in feedback] == [(handoff.turn_id, "refund")]
    again = apps.post(f"/assistant/support/handoffs/{handoff.id}/resolve", {"label": "refund"})
    assert again.status_code == 409


def test_monitor_pages_show_alerts_with_evidence_and_the_chart_data(apps: Browser) -> None:
    listing = apps.get("/monitor").text
    assert 'href="/monitor/markets"' in listing and "127.0.0.1" in listing and "secret-token" not in listing
    page = apps.get("/monitor/markets").text
    stored = MonitorStore(apps.served.store.engine).list_alerts("markets")  # as the API lists them
    assert {a["key"] for a in stored} == {"ACME"} and stored  # the burst fired, the calm part did not
    for alert in stored:
        row = page[page.index(f'id="alert-{alert["id"]}"'):]
        row = row[:row.index("</tr>")]
        assert alert["rule"] in row and "ticker ACME" in row and f'{alert["value"]:.3f}' in row
        assert f"delivery-{alert['status']}" in row and "volume" in row
    data = json.loads(re.search(r'<script type="application/json" id="series-data">(.*?)</script>', page,
                                re.S).group(1))  # type: ignore[union-attr]
    by_key = {(s["kind"], s["key"]): s for s in data}
    assert by_key[("all", "*")]["volume"] and data[0]["key"] == "*"
    acme = by_key[("ticker", "ACME")]
    assert acme["volume"] == [0, 0, 0, 0, 0, 6] and acme["negative_share"] == [None] * 5 + [1.0]
    assert sum(by_key[("ticker", "AAPL")]["volume"]) == 36  # 72 calm items, every other one about $AAPL
    assert acme["starts"] == by_key[("all", "*")]["starts"]  # every chart on the same six 1-hour windows
    assert acme["starts"][0] == "2026-01-05T09:00:00+00:00" and len(acme["starts"]) == 6
    assert page.count("<canvas") == len(data) and "/static/monitor.js" in page
    one = apps.get("/monitor/markets?kind=ticker&key=ACME").text
    assert one.count("<canvas") == 1
    detail = apps.get(f"/monitor/markets/alerts/{stored[-1]['id']}").text
    assert "plunges after downgrade number 0" in detail and stored[-1]["message"] in detail
    assert "$AAPL" not in detail  # only the alert's key
    assert apps.get("/monitor/markets/alerts/999").status_code == 404
    assert apps.get("/monitor/nope").status_code == 404
    assert apps.get("/monitor/markets?kind=sector").status_code == 400
