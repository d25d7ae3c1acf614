"""The rule engine on event time: threshold and spike rules, min volume, one alert per incident, cool-down."""

from __future__ import annotations

from tests.apps.monitor.conftest import monitor_raw
from tunelab.apps.monitor.config import parse_monitor_config
from tunelab.apps.monitor.engine import Observation, RuleEngine

HOUR = 3600.0


def engine(rules: list[dict]) -> RuleEngine:
    config = parse_monitor_config({**monitor_raw(), "rules": rules})
    return RuleEngine(config.rules, config.lookback_s)


def obs(at: float, negative: bool, ticker: str = "TSLA") -> Observation:
    return Observation(at, negative, not negative, -0.8 if negative else 0.5, (("all", "*"), ("ticker", ticker)))


THRESHOLD = {"name": "neg", "type": "threshold", "scope": "ticker", "above": 0.5, "min_volume": 3, "window": "1h",
             "cooldown": "2h"}


def test_threshold_fires_once_per_incident_and_respects_min_volume() -> None:
    e = engine([THRESHOLD])
    assert e.observe(obs(0, True)) == [] and e.observe(obs(60, True)) == []  # 2 items: under min_volume
    [alert] = e.observe(obs(120, True))
    assert (alert.rule, alert.kind, alert.key, alert.at) == ("neg", "ticker", "TSLA", 120)
    assert alert.value == 1.0 and alert.details["volume"] == 3 and "TSLA" in alert.message
    # the incident goes on: more negative items raise nothing
    assert all(e.observe(obs(180 + i * 60, True)) == [] for i in range(5))
    # another ticker is another incident
    assert [a.key for a in [*e.observe(obs(600, True, "AAPL")), *e.observe(obs(660, True, "AAPL")),
                            *e.observe(obs(720, True, "AAPL"))]] == ["AAPL"]


def test_cooldown_then_a_new_incident_alerts_again() -> None:
    e = engine([THRESHOLD])
    fired = [a for t in (0, 60, 120) for a in e.observe(obs(t, True))]
    assert len(fired) == 1
    # the condition clears (positive items), then a new negative burst inside the 2 h cool-down: silent
    for t in range(200, 800, 60):
        e.observe(obs(t, False))
    quiet = [a for t in range(4000, 4600, 60) for a in e.observe(obs(t, True))]
    assert quiet == []
    for t in range(4700, 8000, 300):  # clears again
        e.observe(obs(t, False))
    # past the cool-down (2 h after the first alert at t=120): a fresh incident alerts
    again = [a for t in range(8400, 9000, 60) for a in e.observe(obs(t, True))]
    assert len(again) == 1 and again[0].at >= 120 + 2 * HOUR


def test_the_window_slides_on_event_time() -> None:
    e = engine([THRESHOLD])
    for t in (0, 60):
        e.observe(obs(t, True))
    # an hour later the old negatives are out of the window: 1 negative + 2 positive -> share 1/3
    assert e.observe(obs(HOUR + 120, False)) == [] and e.observe(obs(HOUR + 180, False)) == []
    assert e.observe(obs(HOUR + 240, True)) == []


def test_spike_against_the_trailing_baseline() -> None:
    rule = {"name": "spike", "type": "spike", "scope": "ticker", "metric": "negative", "z": 4, "window": "1h",
            "baseline_windows": 6, "min_baseline_windows": 3, "min_volume": 3, "cooldown": "6h"}
    e = engine([rule])
    # six hours with one negative item an hour: baseline mean 1
    for hour in range(6):
        for minute in (5, 25, 45):
            assert e.observe(obs(hour * HOUR + minute * 60, minute == 5)) == []
    alerts = [a for i in range(8) for a in e.observe(obs(6 * HOUR + 300 + i * 120, True))]
    assert len(alerts) == 1
    spike = alerts[0]
    assert spike.details["baseline_mean"] == 1.0 and spike.value >= 4
    assert spike.at - 6 * HOUR < HOUR  # within one window of the burst's start


def test_spike_needs_history() -> None:
    rule = {"name": "spike", "type": "spike", "scope": "all", "metric": "volume", "z": 2, "window": "1h",
            "baseline_windows": 6, "min_baseline_windows": 3}
    e = engine([rule])
    assert [a for i in range(50) for a in e.observe(obs(i * 10, False))] == []  # a busy first hour: no baseline


def test_scoped_keys_and_mean_score_below() -> None:
    rule = {"name": "score", "type": "threshold", "scope": "ticker", "keys": ["$aapl"], "metric": "mean_score",
            "below": -0.5, "min_volume": 2}
    e = engine([rule])
    assert [a for t in (0, 60, 120) for a in e.observe(obs(t, True, "TSLA"))] == []  # not a watched key
    fired = [a for t in (0, 60) for a in e.observe(obs(t, True, "AAPL"))]
    assert [(a.key, round(a.value, 2)) for a in fired] == [("AAPL", -0.8)]


def test_late_events_are_placed_in_time() -> None:
    e = engine([THRESHOLD])
    e.observe(obs(3000, True))
    e.observe(obs(3060, True))
    [alert] = e.observe(obs(2900, True))  # arrives late but inside the window
    assert alert.at == 3060  # the clock never goes back
