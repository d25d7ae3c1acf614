"""Dashboard fixtures: a server on the tiny runs (the runs folder holds them), logged in or not."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import Served, make_server  # noqa: F401 - a fixture, used here

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class Browser:
    """A TestClient with the dashboard's session: `post` fills in the CSRF token from the last page seen."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.client = served.client
        self.token = ""

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        if 'name="csrf"' in response.text:
            self.token = csrf_of(response.text)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if not self.token:
            self.get("/login")
        response = self.client.post(url, data={"csrf": self.token, **(data or {})}, follow_redirects=False,
                                    **kwargs)
        if 'name="csrf"' in response.text:
            self.token = csrf_of(response.text)
        return response

    def login(self, scope: str = "admin") -> Any:
        self.get("/login")
        response = self.post("/login", {"api_key": self.served.keys[scope], "next": "/"})
        if response.status_code == 303:
            self.get("/admin")  # a new session has a new CSRF token
        return response


@pytest.fixture
def dash_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TUNELAB_HOME", str(home))
    return home


@pytest.fixture
def dash(make_server: Any, dash_home: Path, served_runs: dict[str, Path]) -> Browser:  # noqa: F811
    """Auth on; the runs folder is the tiny runs' folder (four finished runs, all registered)."""
    served = make_server(runs_root=str(served_runs["intents_a"].parent))
    return Browser(served)


@pytest.fixture
def admin(dash: Browser) -> Browser:
    response = dash.login()
    assert response.status_code == 303, response.text
    return dash
