"""`tunelab redact FILE -o OUT`: CSV/TSV/JSONL redaction, the report, exit code 2 with file/row/field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import invoke_cli, isolated_cli_env

ROWS = [{"text": "Mail a.b@example.com or call (591)341-7776", "label": "contact", "note": "card 4111111111111111"},
        {"text": "身份证11010519491231002X，手机13812345678", "label": "identity", "note": "none"},
        {"text": "nothing personal here", "label": "other", "note": "ok"}]


def write_csv(path: Path, delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(ROWS)
    return path


def test_csv_redacts_the_chosen_columns_and_writes_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    isolated_cli_env(tmp_path, monkeypatch)
    out = tmp_path / "out" / "clean.csv"
    result = invoke_cli(["redact", str(write_csv(tmp_path / "in.csv")), "-o", str(out), "--columns", "text,note"],
                        monkeypatch, capsys)
    assert result.code == 0, result.err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["text"] for r in rows] == ["Mail [EMAIL] or call [PHONE]", "身份证[NATIONAL_ID]，手机[PHONE]",
                                         "nothing personal here"]
    assert [r["note"] for r in rows] == ["card [CARD]", "none", "ok"] and [r["label"] for r in rows][0] == "contact"
    report = json.loads((tmp_path / "out" / "clean.csv.pii-report.json").read_text(encoding="utf-8"))
    assert report["found"] == {"text": {"email": 1, "national_id": 1, "phone": 2}, "note": {"card": 1}}
    assert "text: email 1, national_id 1, phone 2" in result.out


def test_tsv_and_jsonl_with_types_and_hash_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    isolated_cli_env(tmp_path, monkeypatch)
    tsv_out = tmp_path / "clean.tsv"
    assert invoke_cli(["redact", str(write_csv(tmp_path / "in.tsv", "\t")), "-o", str(tsv_out), "--types", "email"],
                      monkeypatch, capsys).code == 0
    first = tsv_out.read_text(encoding="utf-8").splitlines()[1].split("\t")[0]
    assert first == "Mail [EMAIL] or call (591)341-7776"
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    out = tmp_path / "clean.jsonl"
    assert invoke_cli(["redact", str(source), "-o", str(out), "--mode", "hash"], monkeypatch, capsys).code == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records[0]["text"].startswith("Mail [EMAIL:") and "a.b@example.com" not in records[0]["text"]
    assert records[0]["note"] == ROWS[0]["note"]  # not a chosen column
    assert (tmp_path / "home" / "privacy-salt").is_file()


def test_bad_input_exits_2_naming_file_row_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    isolated_cli_env(tmp_path, monkeypatch)
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "fine a@b.io"}\n{"text": 42}\nnot json\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = invoke_cli(["redact", str(source), "-o", str(out)], monkeypatch, capsys)
    assert result.code == 2
    assert f"{source}:2 [text]: field 'text' is a number" in result.err and f"{source}:3" in result.err
    assert not out.exists()  # nothing written when a row is bad
    result = invoke_cli(["redact", str(write_csv(tmp_path / "in.csv")), "-o", str(out), "--columns", "body"],
                        monkeypatch, capsys)
    assert result.code == 2 and "no column 'body'" in result.err
    result = invoke_cli(["redact", str(tmp_path / "in.csv"), "-o", str(out), "--types", "email,cards"],
                        monkeypatch, capsys)
    assert result.code == 2 and "'cards'" in result.err
    result = invoke_cli(["redact", str(tmp_path / "in.csv"), "-o", str(out), "--types", "person"],
                        monkeypatch, capsys)
    assert result.code == 2 and "NER model" in result.err
