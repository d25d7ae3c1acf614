"""`tunelab assistant register/list/ask/handoffs/resolve` on a temporary SQLite registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import invoke_cli, isolated_cli_env
from tunelab.apps.assistant.calibrate import NEVER, Thresholds


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    db = isolated_cli_env(tmp_path, monkeypatch)
    return lambda *args: invoke_cli(["assistant", *args, "--db", db], monkeypatch, capsys)


def test_register_ask_and_work_the_queue(cli, built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab.apps.assistant.router import Assistant

    code, out, _ = cli("register", str(built), "--name", "support")
    assert code == 0 and json.loads(out)["version"] == 1
    assert [a["name"] for a in json.loads(cli("list")[1])] == ["support"]
    original = Assistant.answer
    monkeypatch.setattr(Assistant, "answer", lambda self, q, t=None: original(self, q, Thresholds(NEVER, NEVER)))
    code, out, _ = cli("ask", "support", "-q", "can i pay in gold", "-q", "and in silver?", "--conversation", "c1")
    replies = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["route"] for r in replies] == ["handoff", "handoff"]
    assert {r["conversation_id"] for r in replies} == {"c1"}
    queue = json.loads(cli("handoffs", "support")[1])
    assert [h["question"] for h in queue] == ["can i pay in gold", "and in silver?"]
    code, _, err = cli("resolve", "support", str(queue[0]["id"]), "--label", "nonsense")
    assert code == 2 and "not an intent or FAQ id" in err
    code, out, _ = cli("resolve", "support", str(queue[0]["id"]), "--label", "refund", "--reply", "Cards only.")
    assert code == 0 and json.loads(out)["status"] == "resolved"
    assert len(json.loads(cli("handoffs", "support")[1])) == 1
    assert len(json.loads(cli("handoffs", "support", "--status", "all")[1])) == 2
    code, _, err = cli("ask", "nobody", "-q", "hi")
    assert code == 2 and "no assistant 'nobody'" in err


def test_build_through_the_cli_registers_the_folder(cli, tmp_path: Path, tiny_model: Path) -> None:
    from tests.apps.assistant.conftest import kb_yaml

    kb = tmp_path / "kb.yaml"
    kb.write_text(kb_yaml("out_of_scope: [zebra crossing, quantum banana, what is the weather]\n"), encoding="utf-8")
    common = ["--name", "support", "--model", str(tiny_model), "--epochs", "1", "--precision", "fp32",
              "--holdout", "never", "--target", "precision=0.5", "--json", "-q"]
    code, out, err = cli("build", str(kb), "-o", str(tmp_path / "v1"), *common)
    assert code == 0, err
    result = json.loads(out)
    assert result["registered"]["version"] == 1 and result["counts"]["handoff_examples"] == 0
    assert result["calibration"]["target"] == {"metric": "precision", "value": 0.5}
    code, _, err = cli("build", str(kb), "-o", str(tmp_path / "v1"), *common)
    assert code == 2 and "not empty" in err
    code, _, err = cli("build", str(kb), "-o", str(tmp_path / "v2"), *common[:-4], "--target", "f1=1")
    assert code == 2 and "bad target" in err
