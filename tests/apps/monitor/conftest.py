"""Monitor fixtures: a keyword classifier (for the rules), a tiny trained sentiment run, configs, streams, a webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tunelab.apps.monitor.classify import Classified
from tunelab.apps.monitor.events import Event, extract_tickers

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NEGATIVE_WORDS = ("plunges", "downgrade", "cuts", "lawsuit", "misses", "recall")
POSITIVE_WORDS = ("soars", "upgrade", "beats", "raises", "record")

SENTIMENT_ROWS = [
    ("stock plunges after downgrade", "bearish"), ("analyst cuts target on weak demand", "bearish"),
    ("lawsuit hits shares hard", "bearish"), ("company misses estimates and plunges", "bearish"),
    ("shares slump on recall news", "bearish"), ("weak outlook sinks the stock", "bearish"),
    ("stock soars on record profit", "bullish"), ("analyst upgrade lifts shares", "bullish"),
    ("company beats estimates and raises guidance", "bullish"), ("record sales push shares higher", "bullish"),
    ("strong demand lifts the outlook", "bullish"), ("shares rally after upgrade", "bullish"),
    ("company schedules earnings call", "neutral"), ("board meeting set for monday", "neutral"),
    ("company files quarterly report", "neutral"), ("shares unchanged in quiet trade", "neutral"),
    ("annual meeting date announced", "neutral"), ("company names new director", "neutral"),
]


class KeywordClassifier:
    """Negative when the text has a negative word, positive for a positive word, else neutral; counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def classify(self, texts: Sequence[str]) -> list[Classified]:
        self.calls += 1
        self.texts += len(texts)
        out = []
        for text in texts:
            low = text.lower()
            if any(w in low for w in NEGATIVE_WORDS):
                out.append(Classified("bearish", -0.8, True, False))
            elif any(w in low for w in POSITIVE_WORDS):
                out.append(Classified("bullish", 0.7, False, True))
            else:
                out.append(Classified("neutral", 0.0, False, False))
        return out


@pytest.fixture
def keywords() -> KeywordClassifier:
    return KeywordClassifier()


def event(text: str, minutes: float, source: str = "wire", **extra: Any) -> Event:
    return Event(text, T0 + timedelta(minutes=minutes), source, extract_tickers(text), tuple(extra.get("entities", ())))


def calm_stream(hours: int = 6, every_min: float = 5.0,
                tickers: Sequence[str] = ("AAPL", "MSFT", "GOOG")) -> list[Event]:
    """Neutral and positive items with a rare negative one, spread over `hours`."""
    events, n = [], 0
    minute = 0.0
    while minute < hours * 60:
        ticker = tickers[n % len(tickers)]
        kind = n % 10
        text = (f"${ticker} misses on item {n}" if kind == 0 else f"${ticker} beats on item {n}" if kind < 4
                else f"${ticker} files report number {n}")
        events.append(event(text, minute))
        n += 1
        minute += every_min
    return events


def burst(ticker: str, start_min: float, count: int = 8, every_min: float = 3.0) -> list[Event]:
    return [event(f"${ticker} plunges after downgrade number {i}", start_min + i * every_min) for i in range(count)]


RULES = [
    {"name": "ticker-negative", "type": "threshold", "scope": "ticker", "metric": "negative_share", "above": 0.6,
     "min_volume": 4, "window": "1h", "cooldown": "3h"},
    {"name": "ticker-negative-spike", "type": "spike", "scope": "ticker", "metric": "negative", "z": 4,
     "baseline_windows": 4, "min_baseline_windows": 2, "min_volume": 4, "window": "1h", "cooldown": "3h"},
]


def monitor_raw(model: str = "unused-run", **extra: Any) -> dict[str, Any]:
    return {"name": "markets", "sentiment": {"model": model, "negative_labels": ["bearish"],
                                             "positive_labels": ["bullish"]},
            "window": "1h", "rules": [dict(r) for r in RULES], **extra}


@pytest.fixture
def config() -> Any:
    from tunelab.apps.monitor.config import parse_monitor_config

    return parse_monitor_config(monitor_raw(), source="test.yaml")




@pytest.fixture(scope="session")
def sentiment_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT trained on 18 headlines (bearish / bullish / neutral): a real run folder for the monitor."""
    import tunelab
    from tests.conftest import write_csv
    from tunelab.models.tiny import build_tiny_bert

    # The tests need the model to read their own two ACME headlines right, so they are in the training rows; a
    # random-weight tiny BERT fits these 20 rows reliably without dropout, at lr 1e-3 for 60 epochs (4/4 seeds;
    # 15 epochs at 3e-3 with dropout got stuck at 2 of 3 classes on some seeds and dropout streams).
    rows = [*SENTIMENT_ROWS, ("$ACME plunges after downgrade", "bearish"), ("$ACME files report", "neutral")]
    root = tmp_path_factory.mktemp("sentiment")
    model = build_tiny_bert(root / "tiny", [t for t, _ in rows])
    data = write_csv(root / "sentiment.csv", [{"text": t, "label": label} for t, label in rows] * 4)
    tunelab.train(data=str(data), test=str(data), output=str(root / "run"), model=str(model), dev_fraction=0.0,
                  dropout=0.0, epochs=60, batch_size=6, lr=1e-3, warmup_ratio=0.0, patience=0, precision="fp32",
                  show_progress=False, seed=1)
    return root / "run"


def write_jsonl(path: Path, events: Sequence[Event]) -> Path:
    path.write_text("".join(json.dumps({"text": e.text, "timestamp": e.at.isoformat(), "source": e.source}) + "\n"
                            for e in events), encoding="utf-8")
    return path


@dataclass
class Hook:
    """A webhook receiver that answers 500 to the first `fail_first` requests, then 200."""

    fail_first: int
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/secret-token"


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook(fail_first=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.received.append(body)
            state.headers.append(dict(self.headers))
            status = 500 if len(state.received) <= state.fail_first else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
