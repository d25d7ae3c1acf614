"""`tunelab monitor ...` in-process through the real entry point, on a temporary SQLite registry and the tiny run;
and the folder watcher that `run --follow` uses."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.apps.monitor.conftest import burst, calm_stream, event, monitor_raw, write_jsonl
from tests.conftest import invoke_cli, isolated_cli_env
from tunelab.apps.monitor.sources import watch


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    db = isolated_cli_env(tmp_path, monkeypatch)
    return lambda *args: invoke_cli(["monitor", *args, "--db", db], monkeypatch, capsys)


def test_create_run_alerts_aggregates_replay(cli, tmp_path: Path, sentiment_run: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(monitor_raw(str(sentiment_run))), encoding="utf-8")
    created = cli("create", str(config))
    assert created.code == 0, created.err
    assert "monitor markets: 2 rule(s)" in created.out
    assert "markets: 2 rule(s)" in cli("list").out

    stream = [event("$ACME files report", 0)] + [event(f"$ACME plunges after downgrade {'!' * i}", 5 + i)
                                                  for i in range(5)]
    news = write_jsonl(tmp_path / "news.jsonl", stream + stream[:2])
    ran = cli("run", "markets", "--input", str(news))
    assert ran.code == 0, ran.err
    assert "6 item(s) ingested, 2 duplicate(s) dropped, 1 alert(s)" in ran.err
    assert "ALERT" in ran.out and "ticker-negative" in ran.out and "ACME" in ran.out

    alerts = json.loads(cli("alerts", "markets", "--json").out)
    assert [(a["rule"], a["key"], a["status"]) for a in alerts] == [("ticker-negative", "ACME", "logged")]
    aggregates = json.loads(cli("aggregates", "markets", "--kind", "ticker", "--json").out)
    assert [(a["key"], a["volume"], a["negative"]) for a in aggregates] == [("ACME", 6, 5)]
    assert "ACME" in cli("aggregates", "markets").out

    replayed = cli("replay", str(news), "--config", str(config), "--json")
    assert replayed.code == 0, replayed.err
    report = json.loads(replayed.out)
    assert (report["events"], report["accepted"], report["duplicates"]) == (8, 6, 2)
    assert [a["at"] for a in report["alerts"]] == [a["at"] for a in alerts]  # replay == live
    assert len(json.loads(cli("alerts", "markets", "--json").out)) == 1  # the replay stored nothing


def test_bad_inputs_exit_2_with_the_file_and_field(cli, tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({**monitor_raw(), "window": "soon"}), encoding="utf-8")
    result = cli("create", str(config))
    assert result.code == 2 and f"{config}:" in result.err and "window:" in result.err
    news = tmp_path / "news.jsonl"
    news.write_text('{"text": "x"}\n', encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(monitor_raw()), encoding="utf-8")
    result = cli("replay", str(news), "--config", str(good))
    assert result.code == 2 and "news.jsonl:1 [timestamp]" in result.err
    assert cli("alerts", "nosuch").out.strip() == "no alerts"
    assert cli("run", "nosuch", "--input", str(news)).code == 2


def test_watch_picks_up_new_lines_and_files(tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    first = write_jsonl(folder / "a.jsonl", calm_stream(hours=1)[:3])
    batches: list[list] = []

    def consume() -> None:
        for batch in watch(folder, poll_s=0.02, idle_exit_s=1.0):
            batches.append(batch)

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.2)
    line = json.dumps({"text": "$TSLA plunges", "timestamp": "2026-01-05T10:00:00Z"})
    with open(first, "a", encoding="utf-8") as handle:
        handle.write(line[:20])  # half a line: waits for the rest
        handle.flush()
        time.sleep(0.1)
        handle.write(line[20:] + "\nnot json\n")
    write_jsonl(folder / "b.jsonl", burst("X", 0, count=2))
    thread.join(timeout=10)
    assert not thread.is_alive()
    texts = [e.text for batch in batches for e in batch]
    assert texts[:3] == [e.text for e in calm_stream(hours=1)[:3]]
    assert sorted(texts[3:]) == sorted(["$TSLA plunges"] + [e.text for e in burst("X", 0, count=2)])


def test_stdin_lines_become_batches() -> None:
    import io

    from tunelab.apps.monitor.sources import read_stream

    lines = [json.dumps({"text": f"$X item {i}", "timestamp": i}) for i in range(5)] + ["{bad", ""]
    batches = list(read_stream(io.StringIO("\n".join(lines) + "\n"), batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1] and batches[0][0].tickers == ("X",)


def test_chinese_news_through_the_cli_stays_utf8(cli, tmp_path: Path, sentiment_run: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(monitor_raw(str(sentiment_run)), allow_unicode=True), encoding="utf-8")
    assert cli("create", str(config)).code == 0
    rows = [{"text": "贵州茅台（600519）召开股东大会", "timestamp": "2026-01-05T09:00:00Z", "entities": ["贵州茅台"]},
            {"text": "腾讯控股00700.HK发布财报", "timestamp": "2026-01-05T09:05:00Z", "source": "财经网"}]
    news = tmp_path / "新闻.jsonl"
    news.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    ran = cli("run", "markets", "--input", str(news))
    assert ran.code == 0, ran.err
    tickers = cli("aggregates", "markets", "--kind", "ticker", "--json").out
    assert sorted(a["key"] for a in json.loads(tickers)) == ["00700.HK", "600519.SH"]
    entities = cli("aggregates", "markets", "--kind", "entity", "--json").out
    assert "贵州茅台" in entities  # printed as UTF-8, not \u escapes
    assert [a["key"] for a in json.loads(entities)] == ["贵州茅台"]
