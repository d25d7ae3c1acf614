"""A monitor on SQLite and PostgreSQL: dedupe, aggregates, stored alerts, restart, replay == live, the burst case."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.apps.monitor.conftest import T0, KeywordClassifier, burst, calm_stream, event, write_jsonl
from tunelab.apps.monitor.events import read_jsonl
from tunelab.apps.monitor.monitor import Monitor
from tunelab.apps.monitor.replay import run_replay


def test_dedupe_aggregates_and_alerts_are_stored(registry: Any, config: Any, keywords: KeywordClassifier) -> None:
    monitor = Monitor.open(config, registry, keywords)
    first = monitor.ingest([event("$TSLA plunges after recall", 1), event("$TSLA  PLUNGES after recall", 2),
                            event("$TSLA beats estimates", 3), event("$AAPL files report", 70)])
    assert (first.accepted, first.duplicates) == (3, 1)
    again = monitor.ingest([event("$tsla plunges after recall", 5), event("$AAPL files report", 71)])
    assert (again.accepted, again.duplicates) == (0, 2)
    assert keywords.texts == 3  # duplicates are never classified

    rows = monitor.store.list_aggregates("markets", kind="ticker", key="TSLA")
    assert [(r["volume"], r["negative"], r["positive"], r["negative_share"], r["mean_score"]) for r in rows] == [
        (2, 1, 1, 0.5, round((-0.8 + 0.7) / 2, 4))]
    assert rows[0]["window_start"] == T0.isoformat() and rows[0]["window_s"] == 3600
    every = monitor.store.list_aggregates("markets", kind="all")
    assert [(r["window_start"], r["volume"]) for r in every] == [(T0.replace(hour=10).isoformat(), 1),
                                                                 (T0.isoformat(), 2)]
    items = monitor.store.list_items("markets")
    assert [i["label"] for i in items] == ["neutral", "bullish", "bearish"] and items[2]["tickers"] == ["TSLA"]

    result = monitor.ingest(burst("TSLA", 20, count=4, every_min=2))
    [alert] = result.alerts
    assert (alert["rule"], alert["kind"], alert["key"]) == ("ticker-negative", "ticker", "TSLA")
    stored = monitor.store.list_alerts("markets")
    assert [(a["id"], a["status"], a["rule"]) for a in stored] == [(alert["id"], "logged", "ticker-negative")]
    upserted = monitor.store.list_aggregates("markets", kind="ticker", key="TSLA")  # the same window, incremented
    assert [(r["volume"], r["negative"], r["positive"]) for r in upserted] == [(6, 5, 1)]
    # the clock is the newest event time seen (10:10, the AAPL item): the window is 09:10-10:10
    assert stored[0]["details"]["volume"] == 4 and stored[0]["at"] == alert["at"] == "2026-01-05T10:10:00+00:00"


def test_a_restart_keeps_dedupe_incidents_and_cooldowns(registry: Any, config: Any,
                                                        keywords: KeywordClassifier) -> None:
    monitor = Monitor.open(config, registry, keywords)
    assert len(monitor.ingest(burst("TSLA", 0, count=5, every_min=2)).alerts) == 1
    # a new process: the rules are warmed from the stored items and alerts
    reopened = Monitor.open(config, registry, KeywordClassifier(), save=False)
    more = reopened.ingest(burst("TSLA", 12, count=5, every_min=2)[::-1][:3] + [event("$TSLA plunges again", 30)])
    assert more.alerts == () and more.accepted == 1  # same incident, and three duplicates of stored items
    fresh = Monitor.open(config, registry, KeywordClassifier(), save=False)
    assert fresh.ingest([event("$TSLA plunges after downgrade number 0", 40)]).duplicates == 1


def test_state_read_back_mid_stream_raises_the_same_alerts_and_values(registry: Any, config: Any) -> None:
    """A replica re-reads a monitor's state whenever its cache is dropped (a config change anywhere): a spike's
    baseline must then reach as far back as in a process that saw every item (it stopped at the lookback's oldest
    item, so after a quiet gap the spike counted 3 baseline windows instead of 4 and raised another z)."""
    calm = [e for e in calm_stream(hours=8) if not 60 <= (e.at - T0).total_seconds() / 60 < 170]  # a quiet gap
    stream = sorted(calm + burst("MSFT", 6 * 60 + 7, count=8), key=lambda e: e.at)
    batches = [stream[i:i + 7] for i in range(0, len(stream), 7)]
    steady = Monitor.open(replace(config, name="steady"), registry, KeywordClassifier())
    expected = [a for batch in batches for a in steady.ingest(batch).alerts]
    got = []
    for batch in batches:  # a fresh process state for every batch
        got += Monitor.open(replace(config, name="reread"), registry, KeywordClassifier()).ingest(batch).alerts
    assert any(a["rule"] == "ticker-negative-spike" for a in expected), expected
    assert [(a["rule"], a["key"], a["at"], a["value"], a["details"]) for a in got] == \
        [(a["rule"], a["key"], a["at"], a["value"], a["details"]) for a in expected]


def test_replay_raises_what_live_raised(tmp_path: Path, registry: Any, config: Any) -> None:
    stream = calm_stream(hours=8) + burst("MSFT", 6 * 60 + 7, count=8)
    live = Monitor.open(config, registry, KeywordClassifier())
    ordered = sorted(stream, key=lambda e: e.at)
    live_alerts = [a for i in range(0, len(ordered), 7) for a in live.ingest(ordered[i:i + 7]).alerts]
    history = read_jsonl(write_jsonl(tmp_path / "history.jsonl", stream))
    report = run_replay(history, config, classifier=KeywordClassifier(), batch_size=50)
    assert report.events == len(stream) and report.duplicates == 0
    key = [(a["rule"], a["key"], a["at"]) for a in report.alerts]
    assert key == [(a["rule"], a["key"], a["at"]) for a in live_alerts]
    assert key, "the burst raised nothing"


def test_burst_alert_within_one_window_and_none_on_the_calm_part(config: Any, tmp_path: Path) -> None:
    calm = calm_stream(hours=12)
    assert run_replay(calm, config, classifier=KeywordClassifier()).alerts == ()
    start = 9 * 60 + 2
    report = run_replay(calm + burst("GOOG", start, count=10), config, classifier=KeywordClassifier())
    assert {a["key"] for a in report.alerts} == {"GOOG"}
    assert {a["rule"] for a in report.alerts} == {"ticker-negative", "ticker-negative-spike"}
    burst_start = T0.timestamp() + start * 60
    for alert in report.alerts:
        from datetime import datetime

        delay = datetime.fromisoformat(alert["at"]).timestamp() - burst_start
        assert 0 <= delay <= 3600, alert


def test_replay_speed_paces_on_event_time(config: Any) -> None:
    events = [event("$X files report", 0), event("$X files other report", 1)]  # 60 s of event time
    report = run_replay(events, config, classifier=KeywordClassifier(), speed=600, batch_size=1)
    assert report.seconds >= 0.09  # 60 s at 600x


def test_sentiment_labels_must_fit_the_model(registry: Any, config: Any, sentiment_run: Path) -> None:
    from tunelab.apps.monitor.classify import sentiment_labels
    from tunelab.apps.monitor.config import ModelSpec
    from tunelab.errors import ConfigError

    assert sentiment_labels(ModelSpec("m"), ["Negative", "neutral", "Positive"], "s") == ({"Negative"}, {"Positive"})
    with pytest.raises(ConfigError, match="sentiment.negative_labels: none of the model's labels"):
        sentiment_labels(ModelSpec("m"), ["refund", "shipping"], "sentiment")
    wrong = replace(config, sentiment=replace(config.sentiment, model=str(sentiment_run), negative_labels=("sell",)))
    with pytest.raises(ConfigError, match=r"labels \['sell'\] are not labels of the model"):
        Monitor.open(wrong, registry)
    with pytest.raises(ConfigError, match="neither a finished run folder nor a model name"):
        Monitor.open(replace(config, sentiment=replace(config.sentiment, model="Not A Model!")), registry)


def test_the_tiny_sentiment_run_through_the_registry(registry: Any, config: Any, sentiment_run: Path) -> None:
    registry.register(sentiment_run, "sentiment", alias="production")
    real = replace(config, sentiment=replace(config.sentiment, model="sentiment@production"))
    monitor = Monitor.open(real, registry)
    result = monitor.ingest([event("$ACME plunges after downgrade", 0), event("$ACME files report", 1)])
    assert result.accepted == 2
    items = {i["text"]: i for i in monitor.store.list_items("markets")}
    bad, calm = items["$ACME plunges after downgrade"], items["$ACME files report"]
    assert bad["label"] == "bearish" and bad["negative"] and bad["score"] < 0
    assert calm["label"] == "neutral" and not calm["negative"]
    assert -1 <= calm["score"] <= 1


class _Stub:
    """A stand-in Predictor: returns the given predictions for any texts."""

    def __init__(self, make: Any) -> None:
        self.make = make

    def predict(self, texts: list[str], batch_size: int = 32) -> list[Any]:
        return [self.make(t) for t in texts]


def test_topics_and_ner_entities_become_keys(registry: Any, config: Any) -> None:
    from tunelab.apps.monitor.classify import ModelClassifier
    from tunelab.types import ClassPrediction, NerPrediction, Span

    def sentiment(text: str) -> ClassPrediction:
        bad = "recall" in text
        probs = {"bearish": 0.9, "bullish": 0.05, "neutral": 0.05} if bad else \
            {"bearish": 0.1, "bullish": 0.3, "neutral": 0.6}
        return ClassPrediction(max(probs, key=probs.get), max(probs.values()), probs)

    def ner(text: str) -> NerPrediction:
        spans = [Span(text.index(w), text.index(w) + len(w), label, w) for w, label in
                 (("Tesla  Inc", "ORG"), ("Elon", "PER")) if w in text]
        return NerPrediction(tuple(spans))

    classifier = ModelClassifier(_Stub(sentiment), {"bearish"}, {"bullish"},
                                 topics=_Stub(lambda t: ClassPrediction("autos", 0.8, {"autos": 0.8})),
                                 ner=_Stub(ner), entity_types=["ORG"])
    monitor = Monitor.open(config, registry, classifier)
    monitor.ingest([event("Tesla  Inc announces recall, says Elon", 0, entities=["Panasonic"]),
                    event("Tesla  Inc files report", 1)])
    keys = {(a["kind"], a["key"]): (a["volume"], a["negative"], a["mean_score"])
            for a in monitor.store.list_aggregates("markets")}
    assert keys == {("all", "*"): (2, 1, round((-0.85 + 0.2) / 2, 4)), ("topic", "autos"): (2, 1, -0.325),
                    ("entity", "Tesla Inc"): (2, 1, -0.325), ("entity", "Panasonic"): (1, 1, -0.85)}  # no PER
    item = monitor.store.list_items("markets")[-1]
    assert item["entities"] == ["Panasonic", "Tesla Inc"] and item["topic"] == "autos"


def test_the_bundled_example_stream_replays_to_one_alert(config: Any) -> None:
    import tunelab
    from tunelab.apps.monitor.config import load_monitor_config

    demo = Path(tunelab.__file__).parent / "demo_data"
    report = run_replay(read_jsonl(demo / "monitor_stream.jsonl"), load_monitor_config(demo / "monitor.yaml"),
                        classifier=KeywordClassifier())
    assert report.duplicates == 1 and [(a["rule"], a["key"]) for a in report.alerts] == [("ticker-negative", "ACME")]
