"""New run through the dashboard: upload, every problem next to its row, fix in place, train, watch, finish."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INTENTS
from tests.dashboard.conftest import Browser


def intents_csv(broken: bool) -> bytes:
    rows = ["text,label"] + [f"{t},{label}" for label, texts in INTENTS.items() for t in texts]
    if broken:
        rows[3] = rows[3].split(",")[0] + ","  # line 4: the label is missing
        rows[7] = ","  + rows[7].split(",")[1]  # line 8: the text is empty
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def fresh(make_server: Any, dash_home: Path, tmp_path: Path) -> Browser:
    browser = Browser(make_server(register=False, runs_root=str(tmp_path / "runs")))
    browser.login()
    return browser


def upload(browser: Browser, data: bytes, name: str = "tickets.csv", **fields: str) -> Any:
    return browser.post("/new/upload", {"task": "classification", "text_column": "text", "label_column": "label",
                                        **fields}, files={"file": (name, data, "text/csv")})


def test_preview_shows_every_problem_next_to_its_row_and_a_fix_clears_it(fresh: Browser, dash_home: Path) -> None:
    response = upload(fresh, intents_csv(broken=True))
    assert response.status_code == 303
    page = response.headers["location"]
    upload_id = page.rsplit("/", 1)[1]
    stored = list((dash_home / "uploads" / upload_id).iterdir())
    assert sorted(p.name for p in stored) == ["data.csv", "upload.json"]  # the client's name is not a path
    html = fresh.get(page).text
    assert "2 problems" in html
    row4 = html.split('id="row-4"')[1].split("</tr>")[0]
    row8 = html.split('id="row-8"')[1].split("</tr>")[0]
    assert "label" in row4 and "problems" in row4 and "Save line 4" in row4
    assert "text" in row8 and "Save line 8" in row8
    assert "Start training</button>" in html and "disabled>Start training" in html.replace(" disabled>", "disabled>")
    fixed = fresh.post(f"/new/{upload_id}/fix", {"line": "4", "text": "how do i get a refund,refund", "action": "save"})
    assert fixed.status_code == 303
    fresh.post(f"/new/{upload_id}/fix", {"line": "8", "action": "delete"})
    html = fresh.get(page).text
    assert "no problems" in html and 'class="bad"' not in html
    assert "disabled>Start training" not in html.replace(" disabled>", "disabled>")


def test_mapping_names_the_missing_column_and_can_be_changed(fresh: Browser) -> None:
    data = intents_csv(broken=False).replace(b"text,label", b"body,intent", 1)
    page = upload(fresh, data).headers["location"]
    html = fresh.get(page).text
    header = html.split('id="row-1"')[1].split("</tr>")[0]  # shown next to the header line
    assert "no column &#39;text&#39;" in header and "&#39;body&#39;" in header  # names the columns there are
    upload_id = page.rsplit("/", 1)[1]
    fresh.post(f"/new/{upload_id}/mapping", {"task": "classification", "text_column": "body", "label_column": "intent"})
    assert "no problems" in fresh.get(page).text


@pytest.mark.parametrize("name,data,message", [
    ("evil.exe", b"x", "unsupported file type"),
    ("empty.csv", b"", "is empty"),
])
def test_bad_uploads_are_refused_with_a_reason(fresh: Browser, name: str, data: bytes, message: str) -> None:
    response = upload(fresh, data, name)
    assert response.status_code == 400 and message in response.text


def test_oversized_upload_is_refused(make_server: Any, dash_home: Path, tmp_path: Path) -> None:
    browser = Browser(make_server(register=False, runs_root=str(tmp_path / "runs"), max_body_bytes=2000))
    browser.login()
    response = upload(browser, intents_csv(False) * 10)
    assert response.status_code == 413  # the server's body limit answers before any route


def test_unknown_upload_ids_are_not_found(fresh: Browser) -> None:
    assert fresh.get("/new/../../etc").status_code == 404
    assert fresh.get("/new/0123456789abcdef").status_code == 404
    assert fresh.post("/new/zz/start", {"name": "x"}).status_code == 404


def test_train_from_the_dashboard_streams_progress_and_finishes(fresh: Browser, tiny_model: Path,
                                                                tmp_path: Path) -> None:
    page = upload(fresh, intents_csv(broken=False)).headers["location"]
    upload_id = page.rsplit("/", 1)[1]
    fresh.get(page)
    base = shutil.copytree(tiny_model, tmp_path / "runs" / "tiny-base")  # base models: bundled or in the runs folder
    start = {"name": "first", "method": "full", "model": str(base), "epochs": "2"}
    response = fresh.post(f"/new/{upload_id}/start", start)
    assert response.status_code == 303 and response.headers["location"] == "/runs/first"
    busy = fresh.post(f"/new/{upload_id}/start", {**start, "name": "second"})
    assert busy.status_code in (303, 409)  # 409 while the first still trains
    jobs = fresh.served.state.dashboard.jobs
    stream = fresh.get("/runs/first/events").text  # follows the run until it ends
    jobs.wait(120)
    job = jobs.get("first")
    assert job.status == "done", job.error
    data = [json.loads(m) for m in re.findall(r"^data: (.*)$", stream, flags=re.M)]
    losses = [e for e in data if "loss" in e]
    assert losses and losses[-1]["step"] == losses[-1]["total_steps"]
    assert any("dev_metric" in e for e in data)
    assert data[-1]["status"] == "done"
    run_dir = tmp_path / "runs" / "first"
    assert (run_dir / "manifest.json").is_file()
    history = json.loads((run_dir / "history.json").read_text())
    assert [e for e in history if "loss" in e] == [{k: v for k, v in e.items() if k != "total_steps"}
                                                   for e in losses]
    html = fresh.get("/runs/first").text
    assert "complete" in html and 'id="confusion"' in html
    again = fresh.post(f"/new/{upload_id}/start", start)
    assert again.status_code == 409 and "exists already" in again.text
