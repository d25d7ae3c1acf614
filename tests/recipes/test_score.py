"""Batch scoring of a file (`tunelab predict RUN -i FILE -o OUT`): chunked predictions equal in-memory ones in
every output format, bad rows reported all at once with nothing written, and an interrupted job resumes without
scoring or writing a row twice."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tunelab.errors import DataError, UsageError
from tunelab.inference import Predictor
from tunelab.recipes import score as scoring
from tunelab.recipes.score import score_file

TEXTS = ["refund my order please", "where is my parcel", "reset my password", "i want my money back",
         "my package is late", "forgot password again", "parcel never arrived", "refund now"]


def texts_csv(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([i, t] for i, t in enumerate(texts))
    return path


@pytest.fixture
def many(tmp_path: Path) -> list[str]:
    return [f"{TEXTS[i % len(TEXTS)]} {'x ' * (i % 5)}".strip() for i in range(53)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_chunked_scores_equal_the_in_memory_path(served_runs: dict[str, Path], tmp_path: Path, many: list[str],
                                                 suffix: str) -> None:
    run = served_runs["intents_a"]
    source = texts_csv(tmp_path / "in.csv", many)
    out = tmp_path / f"out{suffix}"
    summary = score_file(run, source, out, chunk_rows=10, batch_size=4, show_progress=False)
    assert summary.rows == len(many) and summary.resumed_rows == 0
    assert not (tmp_path / f"out{suffix}.parts").exists()
    expected = Predictor.load(run).predict(many)
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    elif suffix == ".csv":
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(out).to_pylist()
    assert [int(r["row"]) for r in rows] == list(range(1, len(many) + 1))
    assert [r["text"] for r in rows] == many
    assert [r["label"] for r in rows] == [p.label for p in expected]  # type: ignore[union-attr]
    assert all(abs(float(r["score"]) - p.score) < 1e-4 for r, p in zip(rows, expected))  # type: ignore


def test_ner_spans_and_jsonl_input(served_runs: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps({"text": t}) for t in ["John lives in Paris", "Mary visits Berlin"]),
                      encoding="utf-8")
    out = tmp_path / "spans.jsonl"
    score_file(served_runs["ner"], source, out, text_column="text", show_progress=False)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == ["John lives in Paris", "Mary visits Berlin"]
    assert all(isinstance(r["spans"], list) for r in rows)


def test_bad_rows_are_all_reported_and_nothing_is_written(served_runs: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "fine"}\n{"text": ""}\nnot json\n{"text": 3}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataError) as caught:
        score_file(served_runs["intents_a"], source, out, text_column="text", show_progress=False)
    assert [p.line for p in caught.value.problems] == [2, 3, 4] and str(source) in str(caught.value)
    assert not out.exists() and not (tmp_path / "out.jsonl.parts").exists()
    with pytest.raises(UsageError, match="no column 'body'"):
        score_file(served_runs["intents_a"], texts_csv(tmp_path / "t.csv", TEXTS), out, text_column="body",
                   show_progress=False)
    with pytest.raises(UsageError, match="extension"):
        score_file(served_runs["intents_a"], texts_csv(tmp_path / "t.csv", TEXTS), tmp_path / "o.xlsx",
                   show_progress=False)


def test_an_interrupted_job_resumes_without_duplicates(served_runs: dict[str, Path], tmp_path: Path,
                                                       many: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run = served_runs["intents_a"]
    source = texts_csv(tmp_path / "in.csv", many)
    out = tmp_path / "out.jsonl"
    real = scoring._write_part
    written: list[str] = []

    def crash_on_third(part: Path, rows: list) -> None:
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(part.name)
        real(part, rows)

    monkeypatch.setattr(scoring, "_write_part", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        score_file(run, source, out, chunk_rows=10, show_progress=False)
    assert not out.exists() and sorted(p.name for p in (tmp_path / "out.jsonl.parts").glob("part-*")) == written
    monkeypatch.setattr(scoring, "_write_part", real)
    summary = score_file(run, source, out, chunk_rows=10, show_progress=False)
    assert summary.resumed_rows == 20 and summary.rows == len(many)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["row"] for r in rows] == list(range(1, len(many) + 1))  # each row once, in order


def test_a_changed_input_starts_afresh(served_runs: dict[str, Path], tmp_path: Path, many: list[str]) -> None:
    out = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    parts.mkdir()
    (parts / "job.json").write_text('{"run": "another"}', encoding="utf-8")
    (parts / "part-000000.jsonl").write_text('{"row": 1, "text": "stale", "label": "x"}\n', encoding="utf-8")
    score_file(served_runs["intents_a"], texts_csv(tmp_path / "in.csv", many), out, chunk_rows=10,
               show_progress=False)
    assert "stale" not in out.read_text(encoding="utf-8")


def test_cli_scores_a_file_and_exits_2_on_bad_rows(served_runs: dict[str, Path], tmp_path: Path) -> None:
    from tests.cli.test_cli import run_cli

    out = tmp_path / "out.csv"
    done = run_cli("predict", str(served_runs["intents_a"]), "-i", str(texts_csv(tmp_path / "in.csv", TEXTS)),
                   "-o", str(out), "--chunk-rows", "3")
    assert done.returncode == 0, done.stderr
    assert f"scored {len(TEXTS)} texts" in done.stdout and len(list(csv.DictReader(out.open()))) == len(TEXTS)
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nfine\n\"\"\n", encoding="utf-8")
    failed = run_cli("predict", str(served_runs["intents_a"]), "-i", str(bad), "-o", str(tmp_path / "x.csv"))
    assert failed.returncode == 2 and "bad.csv:2" in failed.stderr and "empty text" in failed.stderr


def test_the_predictor_picks_its_device(served_runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    run = served_runs["intents_a"]
    on_cpu = Predictor.load(run, device="auto")
    assert on_cpu.precision.device == "cpu" and next(on_cpu.model.parameters()).device.type == "cpu"
    with pytest.raises(UsageError, match="device must be auto, cpu or cuda"):
        Predictor.load(run, device="tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="no CUDA GPU"):
        Predictor.load(run, device="cuda")
