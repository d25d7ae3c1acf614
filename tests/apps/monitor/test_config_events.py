"""Monitor config and rules YAML (every problem named by file and field), events, tickers and content hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.apps.monitor.conftest import RULES, monitor_raw
from tunelab.apps.monitor.config import load_monitor_config, parse_duration, parse_monitor_config
from tunelab.apps.monitor.events import content_hash, extract_tickers, parse_jsonl_lines, parse_time, read_jsonl
from tunelab.errors import ConfigError, DataError


def test_a_valid_config_with_a_separate_rules_file(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"rules": RULES}), encoding="utf-8")
    (tmp_path / "run").mkdir()
    raw = {**monitor_raw("run"), "rules": "rules.yaml",
           "webhook": {"url": "http://127.0.0.1:9/hook", "backoff": "1s", "headers": {"X-Token": "${secret:token}"}}}
    (tmp_path / "monitor.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_monitor_config(tmp_path / "monitor.yaml")
    assert config.name == "markets" and config.window_s == 3600
    assert [r.name for r in config.rules] == ["ticker-negative", "ticker-negative-spike"]
    threshold, spike = config.rules
    assert (threshold.above, threshold.min_volume, threshold.cooldown_s) == (0.6, 4, 3 * 3600)
    assert (spike.z, spike.baseline_windows, spike.lookback_s) == (4, 4, 5 * 3600)
    assert config.webhook is not None and config.webhook.backoff_s == 1.0 and config.webhook.max_backoff_s == 3600
    # stored form: rules inline, the relative run folder made absolute
    assert config.raw["rules"] == RULES
    assert config.raw["sentiment"]["model"] == str((tmp_path / "run").resolve())


def test_every_problem_is_named_with_file_and_field(tmp_path: Path) -> None:
    raw = {"name": "Bad Name", "sentiment": {"modle": "x"}, "window": "soon", "colour": "red",
           "webhook": {"url": "ftp://x"},
           "rules": [{"name": "a", "type": "threshold", "scope": "ticker"},
                     {"name": "a", "type": "spike", "scope": "sector", "metric": "negative_share", "z": -1},
                     "not a rule"]}
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_monitor_config(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    for field in ("name:", "sentiment.modle:", "sentiment.model:", "window:", "colour:", "webhook.url:",
                  "rules[0].above:", "rules[1].scope:", "rules[1].metric:", "rules[1].z:", "rules[2]:"):
        assert field in message, f"{field} missing from:\n{message}"


def test_rules_file_problems_name_the_rules_file(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("- name: x\n  type: threshold\n  above: high\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({**monitor_raw(), "rules": "rules.yaml"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)rules\.yaml: .*rules\[0\]\.above: must be a number, got 'high'"):
        load_monitor_config(tmp_path / "m.yaml")
    (tmp_path / "broken.yaml").write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML \(line"):
        load_monitor_config(tmp_path / "broken.yaml")


def test_unknown_keys_name_the_closest_known_one_and_every_problem_has_its_path() -> None:
    raw = monitor_raw(windwo="1h", sentiment={"model": "x", "negative_label": ["neg"]})
    raw["rules"][1]["cooldwn"] = "1h"
    with pytest.raises(ConfigError) as caught:
        parse_monitor_config(raw, source="m.yaml")
    assert {p.path: p.message for p in caught.value.problems} == {
        "windwo": "unknown key (did you mean 'window'?)",
        "sentiment.negative_label": "unknown key (did you mean 'negative_labels'?)",
        "rules[1].cooldwn": "unknown key (did you mean 'cooldown'?)",
    }
    assert str(caught.value).startswith("m.yaml: 3 problems in the monitor config:")
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800), (30, 30)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "-1h", "0", "1y", True, "2 hours"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_tickers_are_cashtags_not_prices() -> None:
    text = "$tsla and $AAPL up, $BRK.B flat; paid $100 or US$5 for x$YZ; again $TSLA"
    assert extract_tickers(text) == ("TSLA", "AAPL", "BRK.B")


def test_content_hash_ignores_case_and_spacing() -> None:
    assert content_hash("Tesla  recalls cars\n") == content_hash("tesla recalls cars")
    assert content_hash("Tesla recalls cars") != content_hash("Tesla recalls trucks")


def test_timestamps() -> None:
    assert parse_time("2026-01-05T09:00:00Z").isoformat() == "2026-01-05T09:00:00+00:00"
    assert parse_time("2026-01-05T10:00:00+01:00").isoformat() == "2026-01-05T09:00:00+00:00"
    assert parse_time("2026-01-05 09:00").tzinfo is not None  # no zone: UTC
    assert parse_time(0).year == 1970
    for bad in ("yesterday", None, float("nan"), 1e20, True):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_jsonl_problems_are_all_reported_with_line_and_field(tmp_path: Path) -> None:
    lines = ['{"text": "$TSLA up", "timestamp": "2026-01-05T09:00:00Z", "tickers": ["nvda"]}',
             "",
             '{"text": "", "timestamp": "2026-01-05T09:00:00Z"}',
             "not json",
             '{"text": "ok", "timestamp": "someday", "tickers": "TSLA"}',
             '{"text": "nul \\u0000 byte", "timestamp": 1}']
    with pytest.raises(DataError) as caught:
        parse_jsonl_lines(lines, "news.jsonl")
    found = {(p.line, p.column) for p in caught.value.problems}
    assert found == {(3, "text"), (4, None), (5, "timestamp"), (5, "tickers"), (6, "text")}
    (tmp_path / "ok.jsonl").write_text(lines[0] + "\n", encoding="utf-8")
    [one] = read_jsonl(tmp_path / "ok.jsonl")
    assert one.tickers == ("NVDA", "TSLA")  # given first, then found in the text
    with pytest.raises(DataError, match="no such file"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_the_bundled_example_config_and_stream_are_valid() -> None:
    import tunelab

    demo = Path(tunelab.__file__).parent / "demo_data"
    config = load_monitor_config(demo / "monitor.yaml")
    assert config.name == "markets" and [r.type for r in config.rules] == ["threshold", "spike"]
    events = read_jsonl(demo / "monitor_stream.jsonl")
    assert len(events) == 48 and sum("ACME" in e.tickers for e in events) == 7
