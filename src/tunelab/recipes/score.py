"""Batch scoring of a large file: `tunelab predict RUN -i big.csv -o out.parquet`.

The input is checked in one streaming pass (every bad row reported before any work), then read again in chunks
of `chunk_rows` texts: each chunk is predicted (the Predictor sorts it by length into batches) and written as a
part file in `OUT.parts/` with an atomic rename. An interrupted job started again with the same run, input and
chunk size skips the parts already written, so no row is scored or written twice. When every part exists they are
joined into OUT (written to a temporary name, then renamed) and the parts folder is removed. Memory holds one
chunk, whatever the file's size."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunelab.data.spreadsheet import safe_cell
from tunelab.data.stream import RowWriter, TextRow, chunks, count_rows, file_format, read_jsonl, write_jsonl
from tunelab.errors import UsageError
from tunelab.inference.serialize import dict_to_row, prediction_to_dict
from tunelab.training.progress import pass_bar


@dataclass(frozen=True)
class ScoreJob:
    """What identifies a job's parts: a resume is only taken when all of it is unchanged."""

    run: str
    source: str
    source_size: int
    source_mtime_ns: int
    column: str
    chunk_rows: int
    output_format: str


@dataclass(frozen=True)
class ScoreSummary:
    output: Path
    rows: int
    resumed_rows: int  # rows found already scored in the parts of an earlier, interrupted attempt
    seconds: float
    texts_per_second: float  # over the rows scored by this attempt


def score_file(run: str | Path, source: str | Path, output: str | Path, *, text_column: str | None = None,
               chunk_rows: int = 10_000, batch_size: int = 32, backend: str = "torch",
               output_format: str | None = None, show_progress: bool = True) -> ScoreSummary:
    from tunelab.inference import Predictor
    from tunelab.recipes.evaluate import data_config_for

    if chunk_rows < 1 or batch_size < 1:
        raise UsageError("--chunk-rows and --batch-size must be at least 1")
    source, output = Path(source), Path(output)
    if not source.is_file():
        raise UsageError(f"{source}: no such input file")
    kind = output_format or file_format(output, "output")
    column = text_column or data_config_for(Path(run), text_column=None, task="classification").text_column
    total = count_rows(source, column)
    stat = source.stat()
    job = ScoreJob(str(Path(run).resolve()), str(source.resolve()), stat.st_size, stat.st_mtime_ns, column,
                   chunk_rows, kind)
    parts = _parts_folder(output, job)
    predictor = Predictor.load(run, backend=backend)
    started, scored, resumed = time.perf_counter(), 0, 0
    bar = pass_bar("scoring", " texts", show=show_progress, total=total)
    try:
        for index, chunk in enumerate(chunks(source, column, chunk_rows)):
            part = parts / f"part-{index:06d}.jsonl"
            if not part.is_file():
                predictions = predictor.predict([r.text for r in chunk], batch_size=batch_size)
                _write_part(part, [_row(r, p, kind) for r, p in zip(chunk, predictions)])
                scored += len(chunk)
            else:
                resumed += len(chunk)
            bar.update(len(chunk))
    finally:
        bar.close()
    _join(parts, output, kind)
    seconds = time.perf_counter() - started
    return ScoreSummary(output, total, resumed, seconds, scored / max(seconds, 1e-9))


def _parts_folder(output: Path, job: ScoreJob) -> Path:
    """`OUT.parts/`, reused when its job matches; a folder left by a different job is started afresh."""
    parts = output.with_name(output.name + ".parts")
    state = parts / "job.json"
    if parts.is_dir():
        try:
            same = json.loads(state.read_text(encoding="utf-8")) == asdict(job)
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    if not state.is_file():
        state.write_text(json.dumps(asdict(job), indent=2) + "\n", encoding="utf-8")
    return parts


def _row(source: TextRow, prediction: Any, kind: str) -> dict[str, Any]:
    data = prediction_to_dict(prediction)
    if kind == "jsonl":
        return {"row": source.line, "text": source.text, **data}
    row = {"row": source.line, **dict_to_row(source.text, data)}
    return {k: safe_cell(v) for k, v in row.items()} if kind in ("csv", "tsv") else row


def _write_part(part: Path, rows: list[dict[str, Any]]) -> None:
    staging = part.with_name(part.name + ".tmp")
    write_jsonl(staging, rows)
    os.replace(staging, part)


def _join(parts: Path, output: Path, kind: str) -> None:
    staging = output.with_name(f".{output.name}.tmp")
    writer = RowWriter(staging, kind)
    try:
        for part in sorted(parts.glob("part-*.jsonl")):
            writer.write(read_jsonl(part))
    finally:
        writer.close()
    os.replace(staging, output)
    shutil.rmtree(parts)


