"""The models page shows the loop's decisions: promoted or refused, both accuracies, the test and the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tunelab.loop.records import DecisionRow, record_decision


def test_the_models_page_lists_retraining_decisions_with_their_reason(admin: Any) -> None:
    store = admin.served.store
    summary = {"champion_accuracy": 0.61, "challenger_accuracy": 0.55, "champion_f1": 0.6, "challenger_f1": 0.5,
               "test": "mcnemar-midp", "p_value": 0.5, "detail": "b = 7, c = 3",
               "class_deltas": {"refund": -12.5, "shipping": 3.0}, "shadow_agreement": 0.875}
    record_decision(store, DecisionRow(0, "intents", "production", 1, 2, "refused",
                                       "the challenger is not better on the golden set <b>", summary,
                                       "/tmp/x/decision.json", 0, datetime.now(UTC)))
    page = admin.get("/models")
    assert page.status_code == 200
    html = page.text
    assert "Retraining decisions" in html and "refused" in html and "v2 vs v1" in html
    assert "0.6100 → 0.5500 (0.6000 → 0.5000)" in html and "mcnemar-midp p 0.5 (b = 7, c = 3)" in html
    assert "refund -12.5, shipping +3.0" in html and "0.8750" in html
    assert "not better on the golden set &lt;b&gt;" in html  # escaped


def test_rolling_back_on_the_dashboard_marks_the_loop_promotion_it_undoes(admin: Any) -> None:
    from tunelab.loop.records import list_decisions

    store = admin.served.store
    store.set_alias("intents", "production", 2, actor="loop")
    summary = {"champion_accuracy": 0.5, "challenger_accuracy": 0.9, "champion_f1": 0.5, "challenger_f1": 0.9,
               "test": "mcnemar-midp", "p_value": 0.001, "detail": "b = 0, c = 12", "class_deltas": {}}
    record_decision(store, DecisionRow(0, "intents", "production", 1, 2, "promoted", "better", summary,
                                       "/tmp/x/decision.json", 0, datetime.now(UTC)))
    admin.get("/models")
    response = admin.post("/models/intents/rollback", {"alias": "production", "confirm": "yes"})
    assert response.status_code == 303
    assert store.get_model("intents").aliases["production"] == 1
    assert list_decisions(store, "intents")[0].rolled_back_at is not None
    assert "promoted</span> (rolled back)" in admin.get("/models").text


def test_the_models_page_shows_an_open_stage_and_its_progress(admin: Any) -> None:
    from tunelab.loop.stages import close_stage, open_stage

    store = admin.served.store
    summary = {"champion_accuracy": 0.5, "challenger_accuracy": 0.9, "champion_f1": 0.5, "challenger_f1": 0.9,
               "test": "mcnemar-midp", "p_value": 0.001, "detail": "b = 0, c = 12", "class_deltas": {}}
    staged = record_decision(store, DecisionRow(0, "intents", "production", 1, 2, "staged", "passed the golden set",
                                                summary, "/tmp/x/decision.json", 0, datetime.now(UTC)))
    stage = open_stage(store, model="intents", alias="production", kind="shadow", champion_version=1,
                       challenger_version=2, requests=200, hours=24.0, share=None, decision_id=staged.id)
    html = admin.get("/models").text
    assert "Challenger v2 in shadow</strong> against v1 (production)" in html
    assert 'max="200" value="0"' in html and "0 of 200 live predictions (or 24 h)" in html
    assert "the loop decides when it is done" in html
    close_stage(store, stage.id, "refused")
    assert "Challenger v2 in shadow" not in admin.get("/models").text
