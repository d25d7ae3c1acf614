"""The dashboard in a real browser: Playwright driving Debian's headless Chromium against a live server.

One journey on the tiny model: log in, upload a file, fix a validation error, train, see the curves, try the
playground, relabel a feedback item, promote the version. A second, short one does the assistant and monitor
pages. A screenshot of each page goes to test-output/dashboard/. Skips when chromium or playwright is absent
(fails under CI=true: CI installs both).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INTENTS

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"


@pytest.fixture
def chromium() -> str:
    """Debian's chromium (TUNELAB_CHROMIUM overrides); skip without it, fail under CI."""
    path = os.environ.get("TUNELAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if not path or not Path(path).is_file():
        problem = "Debian's chromium is not installed (run `bash .ci/chromium.sh`)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (make venv installs it from requirements.lock)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem + "; CI must have it")
        pytest.skip(problem)
    return str(path)


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A real uvicorn server (auth on, empty registry) on a free loopback port, in a thread."""
    import uvicorn

    from tunelab.registry import Store
    from tunelab.serving import create_app, load_settings
    from tunelab.serving.services import build_services

    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    store = Store(url)
    _, admin_key = store.create_key("dashboard-admin", "admin")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load_settings(env={}, db=url, port=port, precision="fp32", runs_root=str(tmp_path / "runs"))
    state = build_services(settings, store)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, state), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield {"base": f"http://127.0.0.1:{port}", "key": admin_key, "state": state, "runs": tmp_path / "runs"}
    server.should_exit = True
    thread.join(15)


def broken_csv(path: Path) -> Path:
    rows = ["text,label"] + [f"{t},{label}" for label, texts in INTENTS.items() for t in texts]
    rows[3] = "how do i get a refund,"  # line 4: label missing
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def open_page(p: Any, chromium: str, *, failed_loads: bool) -> tuple[Any, Any, list[str]]:
    """Debian's chromium, headless, one desktop-sized page; `errors` collects script errors, console errors
    and (with `failed_loads`) every response with status >= 400."""
    browser = p.chromium.launch(executable_path=chromium, headless=True,
                                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    if failed_loads:
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return browser, page, errors


def test_journey_upload_fix_train_try_relabel_promote(chromium: str, live_server: dict[str, Any], tiny_model: Path,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect, sync_playwright

    import tunelab.recipes.train as recipe

    real_train, gate = recipe.run_train, threading.Event()

    def gated_train(config: Any, **kwargs: Any) -> Any:
        """Hold training at its first step until the run page is open, so the page follows it live."""
        report = kwargs["on_event"]

        def on_event(entry: dict[str, Any]) -> None:
            gate.wait(60)
            report(entry)

        return real_train(config, **{**kwargs, "on_event": on_event})

    monkeypatch.setattr(recipe, "run_train", gated_train)
    live_server["gate"] = gate
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server["base"]
    with sync_playwright() as p:
        browser, page, errors = open_page(p, chromium, failed_loads=True)
        try:
            journey(page, expect, base, live_server, tiny_model, tmp_path)
            phone(browser, base, page.context.cookies())
        finally:
            browser.close()
    assert errors == [], errors  # no script errors, no CSP violations, no failed loads


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def journey(page: Any, expect: Any, base: str, live: dict[str, Any], tiny_model: Path, tmp_path: Path) -> None:
    upload_and_fix(page, expect, base, live, tmp_path)
    train_and_watch(page, expect, base, live, tiny_model)
    try_relabel_promote(page, expect, base, live)
    other_pages(page, expect, base, live)


def upload_and_fix(page: Any, expect: Any, base: str, live: dict[str, Any], tmp_path: Path) -> None:
    page.goto(f"{base}/new")  # not logged in: the login page, then back here
    expect(page).to_have_url(f"{base}/login?next=%2Fnew")
    shot(page, "01-login")
    page.get_by_label("Admin API key").fill(live["key"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/new")
    shot(page, "02-new-run")

    # upload a file with a missing label; the preview shows the problem next to line 4; fix it in place
    page.get_by_label("Data file").set_input_files(str(broken_csv(tmp_path / "tickets.csv")))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#validation-status")).to_have_text("1 problem")
    expect(page.locator("#row-4 .problems")).to_contain_text("label")
    shot(page, "03-preview-with-error")
    page.get_by_label("Corrected line 4").fill("how do i get a refund,refund")
    page.get_by_role("button", name="Save line 4").click()
    expect(page.locator("#validation-status")).to_have_text("no problems")
    shot(page, "04-preview-fixed")


def train_and_watch(page: Any, expect: Any, base: str, live: dict[str, Any], tiny_model: Path) -> None:
    # train on the tiny model and watch it: curves drawn, the page shows the results when it ends
    page.get_by_label("Run name").fill("tickets-v1")
    base_model = live["runs"] / "tiny-base"  # a base model is a bundled name or a folder in the runs folder
    if not base_model.exists():
        shutil.copytree(tiny_model, base_model)
    page.get_by_label("Base model").fill(str(base_model))
    page.get_by_label("Epochs").fill("8")
    page.get_by_role("button", name="Start training").click()
    expect(page).to_have_url(f"{base}/runs/tickets-v1")
    expect(page.locator("#live")).to_have_attribute("data-live", "yes")
    live["gate"].set()  # training goes on; the page follows it over server-sent events, then reloads
    expect(page.locator("#run-status")).to_have_text("complete", timeout=90_000)
    assert int(page.evaluate("sessionStorage.getItem('tunelab-live-events')") or 0) > 0
    expect(page.locator("#confusion")).to_be_visible()
    history = json.loads((live["runs"] / "tickets-v1" / "history.json").read_text(encoding="utf-8"))
    steps = [e for e in history if "loss" in e]
    assert steps and page.locator("body").get_attribute("data-curves") == str(len(steps))  # a point per step
    shot(page, "05-run-detail")


def try_relabel_promote(page: Any, expect: Any, base: str, live: dict[str, Any]) -> None:
    # register, try it in the playground
    page.get_by_label("Model name").fill("tickets")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#model-tickets")).to_contain_text("v1")
    page.goto(f"{base}/playground")
    page.get_by_label("Model").select_option("tickets@1")
    page.get_by_label("Text").fill("where is my parcel")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#probabilities tbody tr")).to_have_count(3)
    shot(page, "06-playground")

    # the prediction is in the review queue (tiny model: low confidence); relabel it in place
    page.goto(f"{base}/feedback?threshold=1")
    row = page.locator("#queue tbody tr").first
    expect(row).to_contain_text("where is my parcel")
    shot(page, "07-feedback-queue")
    row.get_by_label("Correct label").select_option("shipping")
    row.get_by_role("button", name="Save label").click()
    expect(page.locator("#queue-empty")).to_be_visible()
    feedback = live["state"].store.list_feedback(model="tickets")
    assert [f["label"] for f in feedback] == ["shipping"]
    shot(page, "08-feedback-done")

    # promote v1 to production, after the confirmation step
    page.goto(f"{base}/models")
    page.get_by_role("button", name="Promote v1").click()
    expect(page.get_by_role("heading", name="Promote tickets version 1?")).to_be_visible()
    shot(page, "09-promote-confirm")
    page.get_by_role("button", name="Promote to production").click()
    expect(page.locator("#model-tickets")).to_contain_text("production → v1")
    assert live["state"].store.get_model("tickets").aliases == {"production": 1}
    shot(page, "10-models")


def other_pages(page: Any, expect: Any, base: str, live: dict[str, Any]) -> None:
    # the other pages: runs (two to compare), admin
    shutil.copytree(live["runs"] / "tickets-v1", live["runs"] / "tickets-copy")
    page.goto(f"{base}/")
    page.locator('input[name="a"][value="tickets-v1"]').check()
    page.locator('input[name="b"][value="tickets-copy"]').check()
    shot(page, "11-runs")
    page.get_by_role("button", name="Compare A and B").click()
    expect(page.locator("#per-class-deltas")).to_be_visible()
    shot(page, "12-compare")
    page.goto(f"{base}/admin")
    expect(page.locator("#keys")).to_contain_text("dashboard-admin")
    shot(page, "13-admin")

    # keyboard: the first Tab reaches the skip link, the next ones the navigation
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/"


def phone(browser: Any, base: str, cookies: list[dict[str, Any]]) -> None:
    """A phone-sized screen: every page fits its width (tables scroll inside their own box)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.add_cookies(cookies)
    page = context.new_page()
    for path, name in (("/", "runs"), ("/runs/tickets-v1", "run"), ("/models", "models"),
                       ("/playground", "playground"), ("/feedback", "feedback"), ("/admin", "admin")):
        page.goto(base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone screen"
        shot(page, f"phone-{name}")
    context.close()


def test_assistant_and_monitor_pages(chromium: str, live_server: dict[str, Any], built: Path) -> None:
    """The application pages: chat (a FAQ answer, then a forced hand-off), resolve it from the queue, the monitor's
    charts drawn by Chart.js under the CSP, an alert's evidence; all of them at phone width."""
    from playwright.sync_api import expect, sync_playwright

    from tests.apps.monitor.conftest import KeywordClassifier, burst, calm_stream, monitor_raw
    from tunelab.apps.assistant.calibrate import NEVER, Thresholds
    from tunelab.apps.assistant.store import AssistantStore
    from tunelab.apps.monitor.config import parse_monitor_config
    from tunelab.apps.monitor.monitor import Monitor

    store = live_server["state"].store
    AssistantStore(store).register(built, "support")
    Monitor.open(parse_monitor_config(monitor_raw(), source="test"), store, KeywordClassifier()).ingest(
        calm_stream(hours=4, tickers=("AAPL", "MSFT")) + burst("ACME", start_min=200, count=6))
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server["base"]
    with sync_playwright() as p:
        browser, page, errors = open_page(p, chromium, failed_loads=False)
        try:
            page.goto(f"{base}/assistant")
            page.get_by_label("Admin API key").fill(live_server["key"])
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("#assistants")).to_contain_text("support")
            shot(page, "20-assistants")
            page.get_by_role("link", name="Chat", exact=True).click()
            desk = live_server["state"].desk
            desk.loaded(desk.assistants.get("support")).thresholds = Thresholds(0.0, 0.0)  # answers everything
            page.get_by_label("Your question").fill("hello world")
            page.get_by_role("button", name="Ask").click()
            expect(page.locator(".turn")).to_have_count(1)
            desk.loaded(desk.assistants.get("support")).thresholds = Thresholds(NEVER, NEVER)  # hands off all
            page.get_by_label("Your question").fill("can i pay with seashells")
            page.get_by_role("button", name="Ask").click()
            expect(page.locator('.turn[data-route="handoff"]')).to_contain_text("Top 3 suggestions")
            expect(page.locator(".turn")).to_have_count(2)  # the same conversation
            shot(page, "21-assistant-chat")
            page.get_by_role("link", name="Hand-off queue (1 open)").click()
            page.get_by_label("Right answer").select_option("refund")
            shot(page, "22-handoff-queue")
            page.get_by_role("button", name="Resolve").click()
            expect(page.locator("#queue-empty")).to_be_visible()
            assert AssistantStore(store).resolved_examples("support") == [("can i pay with seashells", "refund")]
            page.goto(f"{base}/monitor/markets")
            expect(page.locator("body")).to_have_attribute("data-charts", "4")  # monitor.js drew every chart
            shot(page, "23-monitor")
            page.locator("#alerts a").first.click()
            expect(page.locator("#items")).to_contain_text("$ACME plunges")
            shot(page, "24-monitor-alert")
            phone_pages(browser, base, page.context.cookies())
        finally:
            browser.close()
    assert errors == [], errors  # no script errors, no CSP violations


def phone_pages(browser: Any, base: str, cookies: list[dict[str, Any]]) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.add_cookies(cookies)
    page = context.new_page()
    for path, name in (("/assistant", "assistants"), ("/assistant/support", "assistant-chat"),
                       ("/assistant/support/handoffs", "handoffs"), ("/monitor", "monitors"),
                       ("/monitor/markets", "monitor"), ("/monitor/markets/alerts/1", "monitor-alert")):
        page.goto(base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone screen"
        shot(page, f"phone-{name}")
    context.close()
