"""Chinese news in the monitor: stock codes (600519.SH, 000001.SZ, 00700.HK) as ticker keys, Chinese entities as
keys, and the text stored unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from tests.apps.monitor.conftest import T0, monitor_raw
from tunelab.apps.monitor.classify import Classified
from tunelab.apps.monitor.config import parse_monitor_config
from tunelab.apps.monitor.events import Event, extract_tickers, normalise_ticker, parse_event
from tunelab.apps.monitor.monitor import Monitor


@pytest.mark.parametrize(("text", "tickers"), [
    ("贵州茅台（600519）发布公告，$TSLA 与 000001.SZ、00700.HK 同日下跌",
     ("600519.SH", "TSLA", "000001.SZ", "00700.HK")),
    ("腾讯控股(00700)跌5%，0700.hk；sh600519 与 600519.SS 是同一只", ("00700.HK", "600519.SH")),
    ("贵州茅台600519.SH大跌，买入$TSLA后卖出，北交所430047.BJ", ("600519.SH", "TSLA", "430047.BJ")),
    ("６００５１９．ＳＨ 全角代码", ("600519.SH",)),
    ("金额（100000）元，编号1234567.SH，价格12.5元，US$5，$100", ()),
])
def test_chinese_stock_codes_are_tickers(text: str, tickers: tuple[str, ...]) -> None:
    assert extract_tickers(text) == tickers


def test_one_spelling_per_ticker_in_events_and_rules() -> None:
    assert [normalise_ticker(t) for t in ("$tsla", "sz000001", "600519.ss", "0700.HK", "00700.hk")] == [
        "TSLA", "000001.SZ", "600519.SH", "00700.HK", "00700.HK"]
    event, problems = parse_event({"text": "港股收盘", "timestamp": 0, "tickers": ["0700.hk", "$BABA"]}, "api")
    assert problems == [] and event is not None and event.tickers == ("00700.HK", "BABA")
    rules = [{**monitor_raw()["rules"][0], "keys": ["sh600519", "0700.hk", "$tsla"]}]
    config = parse_monitor_config({**monitor_raw(), "rules": rules}, source="test.yaml")
    assert config.rules[0].keys == ("600519.SH", "00700.HK", "TSLA")


class ChineseKeywords:
    """Negative for 暴跌/下调/诉讼, positive for 大涨/上调, else neutral."""

    def classify(self, texts: Sequence[str]) -> list[Classified]:
        out = []
        for text in texts:
            if any(w in text for w in ("暴跌", "下调", "诉讼")):
                out.append(Classified("bearish", -0.8, True, False))
            elif any(w in text for w in ("大涨", "上调")):
                out.append(Classified("bullish", 0.7, False, True))
            else:
                out.append(Classified("neutral", 0.0, False, False))
        return out


def news(text: str, minutes: float, entities: tuple[str, ...] = ()) -> Event:
    return Event(text, T0 + timedelta(minutes=minutes), "财经网", extract_tickers(text), entities)


def test_chinese_news_alerts_on_a_stock_code_and_keeps_the_text(registry: Any, config: Any) -> None:
    monitor = Monitor.open(config, registry, ChineseKeywords())  # type: ignore[arg-type]
    calm = news("贵州茅台（600519）召开股东大会", 0, ("贵州茅台",))
    bad = [news(f"贵州茅台600519.SH股价暴跌，评级被下调 第{i}次", 5 + i, ("贵州茅台",)) for i in range(5)]
    result = monitor.ingest([calm, *bad])
    assert result.accepted == 6
    assert [(a["rule"], a["key"]) for a in result.alerts] == [("ticker-negative", "600519.SH")]
    rows = monitor.store.list_aggregates("markets", kind="entity", key="贵州茅台")
    assert [(r["key"], r["volume"], r["negative"]) for r in rows] == [("贵州茅台", 6, 5)]
    items = monitor.store.list_items("markets")
    assert items[-1]["text"] == calm.text and items[-1]["source"] == "财经网"
    assert items[-1]["tickers"] == ["600519.SH"]
