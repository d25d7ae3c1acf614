"""Fuzz of the dashboard's form posts (they are not in the OpenAPI schema, so schemathesis does not reach
them): random text in every field a form reads, real and random path parameters, a valid CSRF token and an
admin session. The property: never a 5xx (every bad value is an HTML error page with a 4xx)."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dashboard.conftest import Browser

FIELDS = ("name", "model", "alias", "version", "weights", "text", "prediction_id", "label", "comment", "question",
          "reply", "conversation_id", "api_key", "scopes", "rate_per_s", "task", "text_column", "label_column",
          "line", "action", "method", "epochs", "next")
NASTY = st.sampled_from(["", " ", "\x00", "../../etc/passwd", "=cmd|' /C calc'!A0", "9" * 40, "-1", "1e309",
                         "intents", "intents@1", "production", "refund", "\ud7ff" * 3, "名字", "a" * 5000])
VALUES = st.one_of(NASTY, st.text(max_size=60))
PATH_VALUES = st.one_of(st.sampled_from(["intents", "intents@1", "support", "1", "0", str(2**40), "x" * 300]),
                        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#%"),
                                min_size=1, max_size=20))
SKIP = {"/logout", "/login"}  # logging out or in again would end the admin session the fuzz posts with


def form_routes() -> list[tuple[str, tuple[str, ...]]]:
    from tunelab.serving.dashboard.web import PAGES

    found = []
    for name in ["login"] + [p.module for p in PAGES if p.module is not None]:
        module = importlib.import_module(f"tunelab.serving.dashboard.pages.{name}")
        for route in module.router.routes:
            if "POST" in route.methods and route.path not in SKIP:
                found.append((route.path, tuple(p.name for p in route.dependant.path_params)))
    return found


ROUTES = form_routes()


def test_the_fuzz_covers_every_form() -> None:
    assert len(ROUTES) >= 15 and any(path.startswith("/admin/keys") for path, _ in ROUTES)


@pytest.mark.parametrize(("path", "params"), ROUTES, ids=[p for p, _ in ROUTES])
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_forms_never_answer_5xx(admin: Browser, path: str, params: tuple[str, ...], data: Any) -> None:
    url = path
    for name in params:
        url = url.replace("{" + name + "}", quote(str(data.draw(PATH_VALUES, label=name)), safe=""))
    form = {name: data.draw(VALUES, label=name) for name in FIELDS if data.draw(st.booleans(), label=f"has {name}")}
    if path == "/new/upload":
        response = admin.client.post(url, data={"csrf": admin.token, **form}, follow_redirects=False,
                                     files={"file": ("x.csv", data.draw(st.binary(max_size=200)), "text/csv")})
    else:
        response = admin.post(url, form)
    assert response.status_code < 500, f"{url} {form!r}: {response.status_code} {response.text[:300]}"
