"""The Drift page: each recorded drift check of the served version as a chart (with its numbers) and drift alerts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from tests.dashboard.conftest import Browser
from tunelab.loop.alerts import raise_drift_alert
from tunelab.loop.drift import DriftCheck, DriftReport
from tunelab.loop.history import HISTORY, append_history, read_history
from tunelab.serving.dashboard.pages.drift import served_version


def report(verdict: str, p: float) -> DriftReport:
    checks = (DriftCheck("embedding_mmd", 0.2, p, 0.01, 0.2, 0.0, p < 0.01, "MMD"),
              DriftCheck("predicted_labels", 0.0, None, 0.01, 0.0, 0.1, False, "PSI 0"))
    return DriftReport("intents", 1, 120, 18, verdict, checks, feedback_accuracy=0.75, feedback_judged=4)


def test_drift_page_charts_recorded_checks_and_lists_alerts(admin: Browser) -> None:
    store = admin.served.store
    assert "No drift checks recorded yet" in admin.get("/drift").text
    info = store.get_model("intents")
    run = Path(next(v.run_path for v in info.versions if v.version == served_version(info)))
    try:
        append_history(run, report("stable", 0.4), datetime(2026, 1, 1, tzinfo=UTC))
        append_history(run, report("drift", 0.002), datetime(2026, 1, 2, tzinfo=UTC))
        with (run / HISTORY).open("a", encoding="utf-8") as handle:
            handle.write("not json\n")  # a torn line is skipped
        assert [p.verdict for p in read_history(run)] == ["stable", "drift"]
        raise_drift_alert(store.engine, report("drift", 0.002))
        page = admin.get("/drift")
        assert page.status_code == 200
        data = json.loads(re.search(r'id="drift-data">(.*?)</script>', page.text, re.S).group(1))
        (series,) = [s for s in data if s["name"].startswith("intents@")]
        assert series["checks"] == {"embedding_mmd": [0.4, 0.002], "predicted_labels": [None, None]}
        assert series["alpha"] == 0.01 and len(series["at"]) == 2
        assert "embedding_mmd" in page.text and ">drift</span>" in page.text and "feedback accuracy 0.750" in page.text
        assert "intents@1: input drift in 1 check(s) (embedding_mmd)" in page.text
        assert 'href="/drift"' in admin.get("/").text  # in the navigation
    finally:
        (run / HISTORY).unlink(missing_ok=True)
