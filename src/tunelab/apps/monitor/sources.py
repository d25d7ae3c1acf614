"""Where events come from: a JSONL file, a folder of JSONL files watched for new lines, or a text stream (stdin)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tunelab.apps.monitor.events import Event, parse_event

log = logging.getLogger("tunelab.monitor")


@dataclass
class Tail:
    """Complete new lines of one file since the last read (a partly written last line waits)."""

    path: Path
    offset: int = 0
    line: int = 0
    pending: bytes = field(default=b"", repr=False)

    def read(self) -> list[tuple[int, bytes]]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # truncated or replaced: start again
            self.offset, self.line, self.pending = 0, 0, b""
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        data = self.pending + data
        *complete, self.pending = data.split(b"\n")
        out = []
        for raw in complete:
            self.line += 1
            out.append((self.line, raw))
        return out


def parse_line(path: str, number: int, raw: bytes | str) -> Event | None:
    """One JSONL line as an event; a bad line is logged with file:line and skipped (a live stream goes on)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if not text.strip():
            return None
        event, problems = parse_event(json.loads(text), path)
    except (UnicodeDecodeError, ValueError) as exc:
        log.warning("%s:%d: skipped, not a JSON line: %s", path, number, exc)
        return None
    if problems:
        log.warning("%s:%d: skipped: %s", path, number, "; ".join(problems))
    return event


def watch(target: Path, *, poll_s: float = 1.0, idle_exit_s: float | None = None,
          stop: Callable[[], bool] = lambda: False) -> Iterator[list[Event]]:
    """Batches of new events from a file or every `*.jsonl` in a folder (new files picked up), polling every
    `poll_s`; ends after `idle_exit_s` without new lines (None: never) or when `stop()` says so."""
    tails: dict[Path, Tail] = {}
    idle_since = time.monotonic()
    while not stop():
        files = sorted(target.glob("*.jsonl")) if target.is_dir() else [target]
        batch = []
        for path in files:
            tail = tails.setdefault(path, Tail(path))
            batch += [e for n, raw in tail.read() if (e := parse_line(str(path), n, raw)) is not None]
        if batch:
            idle_since = time.monotonic()
            yield batch
            continue
        if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
            return
        time.sleep(poll_s)


def read_stream(stream: TextIO, name: str = "<stdin>", batch_size: int = 64) -> Iterator[list[Event]]:
    """Batches of events from JSONL lines on a text stream, as they arrive (a short batch when input pauses
    is not waited for: each line read is a batch boundary once `batch_size` lines are in)."""
    batch = []
    for number, line in enumerate(stream, start=1):
        event = parse_line(name, number, line)
        if event is not None:
            batch.append(event)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
