"""Server-side tests of every dashboard page (FastAPI TestClient, tiny runs): content, login, CSRF, actions."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.dashboard.conftest import Browser

PAGES = ["/", "/runs/intents_a", "/runs/compare?a=intents_a&b=intents_b", "/new", "/models", "/playground",
         "/feedback", "/drift", "/admin"]


class Controls(HTMLParser):
    """Form controls and the labels that name them."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, Any]] = []
        self.label_for: set[str] = set()
        self.in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(a["for"] or "")
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append({**a, "tag": tag, "wrapped": self.in_label > 0})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1


def unlabelled(html: str) -> list[dict[str, Any]]:
    parser = Controls()
    parser.feed(html)
    return [c for c in parser.controls
            if not c["wrapped"] and not c.get("aria-label") and c.get("id") not in parser.label_for]


def test_pages_need_login_and_redirect_back(dash: Browser) -> None:
    for page in PAGES:
        response = dash.client.get(page, follow_redirects=False)
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/login?next=")
    response = dash.client.get("/runs/intents_a/events", follow_redirects=False)
    assert response.status_code == 303


def test_login_checks_the_key_and_sets_a_strict_httponly_cookie(dash: Browser) -> None:
    dash.get("/login")
    wrong = dash.post("/login", {"api_key": "tl_nope_nope", "next": "/"})
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    assert "tl_nope_nope" not in wrong.text  # the key is never echoed
    weak = dash.post("/login", {"api_key": dash.served.keys["predict"], "next": "/"})
    assert weak.status_code == 403 and "admin" in weak.text
    good = dash.post("/login", {"api_key": dash.served.keys["admin"], "next": "/models"})
    assert good.status_code == 303 and good.headers["location"] == "/models"
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert dash.served.keys["admin"].lower() not in cookie
    assert dash.get("/models").status_code == 200
    evil = dash.post("/login", {"api_key": dash.served.keys["admin"], "next": "//evil.example/x"})
    assert evil.headers["location"] == "/"


def test_revoked_key_ends_the_session_and_logout_works(admin: Browser) -> None:
    assert admin.get("/admin").status_code == 200
    assert admin.post("/logout").status_code == 303
    assert admin.client.get("/admin", follow_redirects=False).status_code == 303
    admin.login()
    admin.served.store.revoke_key(admin.served.store.key_by_id(admin.served.keys["admin"].split("_")[1]).id)
    assert admin.client.get("/admin", follow_redirects=False).status_code == 303


def test_every_post_needs_the_csrf_token(admin: Browser) -> None:
    before = admin.served.store.get_model("intents").aliases
    for url, data in [("/models/intents/promote", {"version": "2", "alias": "production", "confirm": "yes"}),
                      ("/admin/keys", {"name": "sneaky", "scopes": "admin"}), ("/logout", {})]:
        response = admin.client.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403, url
        assert "security token" in response.text
        forged = admin.client.post(url, data={**data, "csrf": "forged"}, follow_redirects=False)
        assert forged.status_code == 403, url
    assert admin.served.store.get_model("intents").aliases == before
    assert all(k.name != "sneaky" for k in admin.served.store.list_keys())


def test_every_page_renders_with_labelled_controls_and_strict_headers(admin: Browser) -> None:
    for page in PAGES:
        response = admin.get(page)
        assert response.status_code == 200, page
        assert "<nav" in response.text and 'href="/models"' in response.text
        assert unlabelled(response.text) == [], page
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "cdn" not in response.text.lower()


def test_runs_table_lists_runs_with_metrics_and_registrations(admin: Browser) -> None:
    html = admin.get("/").text
    for name in ("intents_a", "intents_b", "multilabel", "ner"):
        assert f'href="/runs/{name}"' in html
    assert "intents@1 (production)" in html and "entities@1" in html
    manifest = json.loads((Path(admin.served.state.settings.runs_root) / "intents_a" / "manifest.json").read_text())
    assert f"{manifest['metrics']['dev']['accuracy']:.4f}" in html


def test_compare_shows_metrics_per_class_deltas_and_config_diff(admin: Browser) -> None:
    html = admin.get("/runs/compare?a=intents_a&b=intents_b").text
    assert "dev accuracy" in html
    per_class = html.split('id="per-class-deltas"')[1].split("</table>")[0]
    for label in ("refund", "shipping", "password"):
        assert label in per_class
    diff = html.split('id="config-diff"')[1].split("</table>")[0]
    assert "train.seed" in diff and "output" in diff and "train.lr" not in diff
    assert admin.get("/runs/compare?a=intents_a&b=intents_a").status_code == 400
    assert admin.get("/runs/compare?a=intents_a&b=nope").status_code == 404


def test_run_detail_has_curves_confusion_per_class_calibration_and_card(admin: Browser) -> None:
    html = admin.get("/runs/intents_a").text
    history = json.loads(html.split('id="history">')[1].split("</script>")[0])
    assert any("loss" in e for e in history) and any("dev_metric" in e for e in history)
    assert 'id="confusion"' in html and 'id="per-class"' in html and "ECE" in html
    assert "calibration.png" in html and "TuneLab model" in html
    assert admin.get("/runs/intents_a/files/calibration.png").headers["content-type"] == "image/png"
    assert admin.get("/runs/intents_a/files/config.yaml").status_code == 404
    assert admin.get("/runs/intents_a/files/..%2Fmanifest.json").status_code == 404
    assert admin.get("/runs/intents@2").status_code == 200  # a registered version by model@version
    assert admin.get("/runs/nope").status_code == 404
    ner = admin.get("/runs/ner").text
    assert 'id="per-class"' in ner and "PER" in ner
    ended = admin.get("/runs/intents_a/events")  # nothing trains: the stream ends at once
    assert "event: end" in ended.text and '"none"' in ended.text


def test_register_a_run_from_its_page(admin: Browser) -> None:
    response = admin.post("/runs/multilabel/register", {"model": "tags2", "alias": "staging"})
    assert response.status_code == 303
    info = admin.served.store.get_model("tags2")
    assert info.aliases == {"staging": 1}
    assert admin.post("/runs/multilabel/register", {"model": "Bad Name"}).status_code == 400


def test_promote_and_rollback_ask_for_confirmation_first(admin: Browser) -> None:
    store = admin.served.store
    asked = admin.post("/models/intents/promote", {"version": "2", "alias": "production"})
    assert asked.status_code == 200 and "now answers with version 1" in asked.text
    assert store.get_model("intents").aliases["production"] == 1  # nothing moved yet
    done = admin.post("/models/intents/promote", {"version": "2", "alias": "production", "confirm": "yes"})
    assert done.status_code == 303 and store.get_model("intents").aliases["production"] == 2
    assert "production → v2" in admin.get("/models").text
    asked = admin.post("/models/intents/rollback", {"alias": "production"})
    assert "before (1)" in asked.text and store.get_model("intents").aliases["production"] == 2
    admin.post("/models/intents/rollback", {"alias": "production", "confirm": "yes"})
    assert store.get_model("intents").aliases["production"] == 1
    assert admin.post("/models/intents/promote", {"version": "9", "confirm": "yes"}).status_code == 404


def test_ab_weights(admin: Browser) -> None:
    assert admin.post("/models/intents/split", {"w1": "0.9", "w2": "0.1"}).status_code == 303
    assert admin.served.store.get_split("intents") == {1: 0.9, 2: 0.1}
    assert admin.post("/models/intents/split", {"w1": "-1"}).status_code == 400
    assert admin.post("/models/intents/split", {"w1": "", "w2": ""}).status_code == 303
    assert admin.served.store.get_split("intents") == {}


def test_playground_shows_all_probabilities_and_ner_spans(admin: Browser) -> None:
    html = admin.post("/playground", {"model": "intents@production", "text": "where is my parcel"}).text
    table = html.split('id="probabilities"')[1].split("</table>")[0]
    assert all(label in table for label in ("refund", "shipping", "password"))
    assert len(admin.served.store.list_predictions(model="intents")) == 1  # logged like any prediction
    html = admin.post("/playground", {"model": "entities", "text": "Alice visited Paris today"}).text
    assert 'id="ner-text"' in html
    prediction = admin.served.store.list_predictions(model="entities")[0]
    for span in prediction["output"]["spans"]:
        assert f'<mark data-label="{span["label"]}">' in html
    assert admin.post("/playground", {"model": "nope", "text": "x"}).status_code == 404
    assert admin.post("/playground", {"model": "intents", "text": "  "}).status_code == 400


def test_feedback_queue_relabel_flag_and_export(admin: Browser) -> None:
    store = admin.served.store
    admin.post("/playground", {"model": "intents", "text": "i forgot my password"})
    admin.post("/playground", {"model": "intents", "text": "refund the charge now"})
    first, second = store.list_predictions(model="intents")
    html = admin.get("/feedback?threshold=1").text
    assert f'id="p-{first["id"]}"' in html and f'id="p-{second["id"]}"' in html
    assert admin.post("/feedback/relabel", {"prediction_id": first["id"], "label": "nonsense"}).status_code == 400
    assert admin.post("/feedback/relabel", {"prediction_id": first["id"], "label": "refund"}).status_code == 303
    html = admin.get("/feedback?threshold=1").text
    assert f'id="p-{first["id"]}"' not in html and "1 corrected" in html
    assert admin.post("/playground/flag", {"prediction_id": second["id"], "comment": "wrong"}).status_code == 303
    assert admin.get("/feedback?threshold=0").text.count("flagged</span>") == 1
    export = admin.get("/feedback/export?model=intents")
    assert export.headers["content-disposition"].endswith('intents-corrections.csv"')
    lines = export.text.strip().splitlines()
    assert lines == ["text,label", f"{first['text']},refund"]


def test_ner_relabel_reads_entities_by_their_words(admin: Browser) -> None:
    admin.post("/playground", {"model": "entities", "text": "Bob Smith works at Acme"})
    pid = admin.served.store.list_predictions(model="entities")[0]["id"]
    bad = admin.post("/feedback/relabel", {"prediction_id": pid, "label": "Zed=PER"})
    assert bad.status_code == 400 and "does not appear" in bad.text
    fixed = admin.post("/feedback/relabel", {"prediction_id": pid, "label": "Bob Smith=PER; Acme=ORG"})
    assert fixed.status_code == 303
    row = admin.served.store.list_feedback(prediction_id=pid)[-1]
    assert row["label"] == [{"start": 0, "end": 9, "label": "PER"}, {"start": 19, "end": 23, "label": "ORG"}]
    export = admin.get("/feedback/export?model=entities").text
    assert json.loads(export.splitlines()[0])["spans"][1] == {"start": 19, "end": 23, "label": "ORG"}


def test_admin_creates_shows_once_and_revokes_keys(admin: Browser) -> None:
    created = admin.post("/admin/keys", {"name": "partner", "scopes": ["predict", "feedback"], "rate_per_s": "5"})
    assert created.status_code == 201
    token = created.text.split('id="token" value="')[1].split('"')[0]
    reply = admin.client.post("/v1/models/intents/predict", json={"inputs": ["hello"]},
                              headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200
    page = admin.get("/admin").text
    assert token not in page and "partner" in page and "5/s" in page
    info = admin.served.store.get_key("partner")
    assert info.usage["requests"] == 1  # flushed before the page is drawn
    asked = admin.post(f"/admin/keys/{info.id}/revoke")
    assert "cannot be undone" in asked.text and admin.served.store.get_key("partner").revoked_at is None
    admin.post(f"/admin/keys/{info.id}/revoke", {"confirm": "yes"})
    assert admin.served.store.get_key("partner").revoked_at is not None
    assert admin.client.post("/v1/models/intents/predict", json={"inputs": ["x"]},
                             headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert admin.post("/admin/keys", {"name": "none"}).status_code == 400


def test_no_auth_mode_needs_no_login_but_still_checks_csrf(make_server: Any, dash_home: Path,
                                                            served_runs: dict[str, Path]) -> None:
    local = Browser(make_server(auth=False, runs_root=str(served_runs["intents_a"].parent),
                                allowed_hosts=("testserver",)))
    html = local.get("/").text
    assert "local, no login" in html and "intents_a" in html
    response = local.client.post("/models/intents/split", data={"w1": "1"}, follow_redirects=False)
    assert response.status_code == 403
    assert local.post("/models/intents/split", {"w1": "1"}).status_code == 303


def test_dashboard_routes_stay_out_of_the_openapi_schema(admin: Browser) -> None:
    paths = admin.client.get("/openapi.json").json()["paths"]
    assert all(p.startswith("/v1") or p == "/metrics" for p in paths)


def test_run_detail_lists_compressed_artifacts_with_their_gate(make_server: Any, dash_home: Path, tmp_path: Path,
                                                               served_runs: dict[str, Path]) -> None:
    import shutil

    from tunelab.artifacts.manifest import load_manifest
    from tunelab.serving.dashboard.runfolders import artifact_rows

    run = shutil.copytree(served_runs["intents_a"], tmp_path / "runs" / "exported")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["artifacts"] = {"optimized": {
        "torch": {"backend": "torch-fp32", "metric_name": "accuracy", "metric": 0.9, "size_mb": 90.0},
        "onnx-int8": {"backend": "onnx-int8", "metric_name": "accuracy", "metric": 0.85, "size_mb": 23.1,
                      "gate": {"drop_points": 5.0}, "passed": False, "latency_b1_p50_ms": 3.2}}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    rows = {r.name: r for r in artifact_rows(load_manifest(run))}
    assert rows["torch"].verdict == "reference" and rows["onnx-int8"].verdict == "refused"
    assert rows["onnx-int8"].drop_points == 5.0 and rows["torch"].drop_points is None
    browser = Browser(make_server(runs_root=str(tmp_path / "runs")))
    browser.login()
    table = browser.get("/runs/exported").text.split('id="artifacts"')[1].split("</table>")[0]
    assert "onnx-int8" in table and "refused" in table and "5.00" in table and "3.20" in table
    plain = browser.get("/runs/intents@1")
    assert plain.status_code == 200 and 'id="artifacts"' not in plain.text and artifact_rows(None) == []
