"""Issue 13 on the dashboard: logout ends the session on the server; folders named through the dashboard obey
the same path policy as the API (a symlink out of the runs folder, a base model anywhere on the disk)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.dashboard.conftest import Browser
from tunelab.serving.cookies import COOKIE as COOKIE_NAME


def test_a_copy_of_a_logged_out_cookie_logs_nobody_in(admin: Browser) -> None:
    stolen = admin.client.cookies.get(COOKIE_NAME)
    assert stolen and admin.get("/admin").status_code == 200
    assert admin.post("/logout").status_code == 303
    admin.client.cookies.clear()
    admin.client.cookies.set(COOKIE_NAME, stolen)
    assert admin.client.get("/admin", follow_redirects=False).status_code == 303  # to /login


def test_a_symlink_out_of_the_runs_folder_is_not_registered(make_server: Any, dash_home: Path,
                                                             served_runs: dict[str, Path], tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    outside = shutil.copytree(served_runs["intents_a"], tmp_path / "elsewhere" / "run")
    (runs / "sneaky").symlink_to(outside, target_is_directory=True)
    browser = Browser(make_server(runs_root=str(runs)))
    browser.login()
    refused = browser.post("/runs/sneaky/register", {"model": "sneaky"})
    assert refused.status_code == 400 and "must be inside the server" in refused.text
    assert [m.name for m in browser.served.store.list_models()] == ["entities", "intents", "tags"]
