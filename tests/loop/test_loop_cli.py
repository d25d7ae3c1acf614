"""`tunelab loop drift` and `tunelab loop suggest` on a registry: logged traffic in, a report, an alert, a batch."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import invoke_cli, isolated_cli_env
from tests.loop.conftest import news_texts, support_texts
from tunelab.apps.monitor.config import WebhookConfig
from tunelab.apps.monitor.outbox import deliver_due
from tunelab.apps.monitor.store import MonitorStore
from tunelab.apps.monitor.webhook import SendResult
from tunelab.loop.history import read_history
from tunelab.registry import PredictionRecord, Store


@pytest.fixture
def registry_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, support_run: Path) -> str:
    url = isolated_cli_env(tmp_path, monkeypatch)
    store = Store(url)
    store.register(support_run, "support", alias="production")
    store.close()
    return url


def log_texts(url: str, texts: list[str]) -> list[str]:
    store = Store(url)
    ids = [uuid.uuid4().hex for _ in texts]
    store.log_predictions([PredictionRecord(i, "support", 1, {"label": "order_status", "score": 0.5}, 1.0, t,
                                            score=0.5) for i, t in zip(ids, texts)])
    store.close()
    return ids


def alerts(url: str) -> list[dict]:
    store = Store(url)
    try:
        return MonitorStore(store.engine).list_alerts()
    finally:
        store.close()


def test_stable_traffic_prints_stable_and_records_no_alert(registry_url, monkeypatch, capsys) -> None:
    log_texts(registry_url, support_texts("support_test.csv")[:200])
    result = invoke_cli(["loop", "drift", "support", "--window", "200", "--db", registry_url], monkeypatch, capsys)
    assert result.code == 0, result.err
    assert "support@1: STABLE" in result.out and "embedding_mmd" in result.out
    assert alerts(registry_url) == []


def test_shifted_traffic_raises_one_alert_and_a_webhook_delivers_it(registry_url, support_run, monkeypatch,
                                                                    capsys) -> None:
    log_texts(registry_url, news_texts())
    recorded = len(read_history(support_run))
    result = invoke_cli(["loop", "drift", "support", "--db", registry_url, "--json"], monkeypatch, capsys)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["verdict"] == "drift" and report["window"] == len(news_texts())
    history = read_history(support_run)  # the dashboard's chart reads this
    assert len(history) == recorded + 1 and history[-1].verdict == "drift" and "embedding_mmd" in history[-1].drifted
    assert report["alert"]["status"] == "logged"
    (alert,) = alerts(registry_url)
    assert (alert["monitor"], alert["rule"], alert["key"], alert["status"]) == ("drift", "drift", "support@1", "logged")
    assert "embedding_mmd" in alert["message"]
    again = invoke_cli(["loop", "drift", "support", "--db", registry_url], monkeypatch, capsys)
    assert "cool-down" in again.out and len(alerts(registry_url)) == 1  # not repeated within the cool-down

    store = Store(registry_url)
    MonitorStore(store.engine).save_config("news", {"name": "news", "webhook": {"url": "https://hooks.example/x"}})
    store.close()
    via = invoke_cli(["loop", "drift", "support", "--db", registry_url, "--alert-via", "news"], monkeypatch, capsys)
    assert "pending (monitor 'news')" in via.out, via.out + via.err
    sent: list[dict] = []

    def sender(_webhook: WebhookConfig, payload: dict) -> SendResult:
        sent.append(payload)
        return SendResult(True, 200)

    store = Store(registry_url)
    report_ = deliver_due(MonitorStore(store.engine), lambda name: WebhookConfig("https://hooks.example/x"), sender)
    store.close()
    assert report_.delivered == 1 and sent[0]["alert"]["rule"] == "drift" and sent[0]["alert"]["key"] == "support@1"


def test_alert_via_a_monitor_without_webhook_is_a_usage_error(registry_url, monkeypatch, capsys) -> None:
    log_texts(registry_url, news_texts())
    store = Store(registry_url)
    MonitorStore(store.engine).save_config("quiet", {"name": "quiet"})
    store.close()
    result = invoke_cli(["loop", "drift", "support", "--db", registry_url, "--alert-via", "quiet"], monkeypatch,
                        capsys)
    assert result.code == 2 and "no webhook" in result.err
    missing = invoke_cli(["loop", "drift", "nomodel", "--db", registry_url], monkeypatch, capsys)
    assert missing.code == 2 and "nomodel" in missing.err


def test_suggest_exports_a_diverse_batch_of_unlabelled_traffic(registry_url, tmp_path, monkeypatch, capsys) -> None:
    texts = support_texts("support_test.csv")[:120]
    ids = log_texts(registry_url, texts + texts[:20])  # repeats are suggested once
    store = Store(registry_url)
    store.add_feedback(ids[0], label="order_status")  # labelled already: never suggested
    store.close()
    out = tmp_path / "batch.csv"
    result = invoke_cli(["loop", "suggest", "support", "-n", "40", "-o", str(out), "--db", registry_url], monkeypatch,
                        capsys)
    assert result.code == 0, result.err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 40 and len({r["text"] for r in rows}) == 40
    assert texts[0] not in {r["text"] for r in rows}
    assert all(r["label"] == "" and r["prediction_id"] and "uncertainty" in r["reason"] for r in rows)
    assert [int(r["rank"]) for r in rows] == list(range(1, 41))
    assert len({r["cluster"] for r in rows[:10]}) == 10  # the first picks come from ten different clusters


def test_suggest_from_a_file_prints_json_with_reasons(registry_url, tmp_path, monkeypatch, capsys) -> None:
    texts = tmp_path / "pool.txt"
    texts.write_text("\n".join(support_texts("support_test.csv")[:30]) + "\n", encoding="utf-8")
    result = invoke_cli(["loop", "suggest", "support", "-n", "5", "--texts", str(texts), "--strategy", "entropy",
                         "--candidates", "1.5", "--json", "--db", registry_url], monkeypatch, capsys)
    assert result.code == 0, result.err
    batch = json.loads(result.out)
    assert [s["rank"] for s in batch] == [1, 2, 3, 4, 5] and all(s["prediction_id"] is None for s in batch)
    assert all(s["reason"].startswith("entropy uncertainty") for s in batch)


def test_bad_options_are_usage_errors(registry_url, monkeypatch, capsys) -> None:
    assert invoke_cli(["loop", "drift", "support", "--window", "0", "--db", registry_url], monkeypatch,
                      capsys).code == 2
    assert invoke_cli(["loop", "drift", "support", "--alpha", "1.5", "--db", registry_url], monkeypatch,
                      capsys).code == 2
    bad = invoke_cli(["loop", "suggest", "support", "--strategy", "variance", "--db", registry_url], monkeypatch,
                     capsys)
    assert bad.code == 2 and "unknown uncertainty" in bad.err
    few = invoke_cli(["loop", "suggest", "support", "--candidates", "0.5", "--db", registry_url], monkeypatch, capsys)
    assert few.code == 2 and "--candidates" in few.err


def test_models_that_are_not_single_label_are_refused() -> None:
    from types import SimpleNamespace

    from tunelab.errors import UsageError
    from tunelab.loop.embeddings import require_single_label

    ner = SimpleNamespace(task=SimpleNamespace(name="ner", spec=SimpleNamespace(single_label=False)))
    with pytest.raises(UsageError, match="single-label classification models, not ner"):
        require_single_label(ner)
