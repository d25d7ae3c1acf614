"""News events: parse and validate (JSONL lines, HTTP bodies), content hash for dedupe, ticker extraction.

Tickers are `$TSLA` cashtags and Chinese stock codes: `600519.SH`, `000001.SZ`, `430047.BJ`, `00700.HK`, their
`SH600519` / `600519.SS` / `0700.HK` spellings, and a bare code in brackets after Chinese text, as Chinese
news writes it (`贵州茅台（600519）`, `腾讯控股(00700)`). Each becomes one key: `600519.SH`, `00700.HK`."""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tunelab.errors import DataError, DataProblem

MAX_TEXT = 20_000
MAX_KEY = 128
# `$TSLA`, `$BRK.B`; not `$100`, not `US$5`, not inside a Latin word (Chinese text may touch it: `买入$TSLA后`)
_TICKER = re.compile(r"(?<![A-Za-z0-9_$])\$([A-Za-z]{1,6}(?:[.-][A-Za-z]{1,2})?)(?![A-Za-z0-9_])")
# `600519.SH`, `600519.SS`, `00700.HK`, `0700.HK`; `SH600519`, `sz000001`; not inside a longer number or word
_CODE = re.compile(r"(?<![A-Za-z0-9_.])(?:(\d{6})\.(SH|SS|SZ|BJ)|(\d{4,5})\.(HK)|(SH|SZ|BJ)(\d{6}))"
                   r"(?![A-Za-z0-9_])", re.IGNORECASE)
# `贵州茅台(600519)`, `腾讯控股(00700)` (full-width brackets become ASCII under NFKC): a code right after CJK text
_BRACKETED = re.compile(r"(?<=[\u3400-\u9fff])\s?\((\d{5,6})\)")
_A_SHARE_BOARDS = {"6": "SH", "9": "SH", "0": "SZ", "2": "SZ", "3": "SZ", "4": "BJ", "8": "BJ"}
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Event:
    """One news item as it arrives: text, its own timestamp (UTC), where it came from, and optional
    tickers/entities given by the sender (merged with the extracted ones)."""

    text: str
    at: datetime
    source: str = ""
    tickers: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()

    @property
    def hash(self) -> str:
        return content_hash(self.text)

    @property
    def epoch(self) -> float:
        return self.at.timestamp()


def content_hash(text: str) -> str:
    """SHA-256 of the text with case and whitespace normalised: the same headline from two feeds is one item."""
    return hashlib.sha256(_SPACE.sub(" ", text).strip().casefold().encode("utf-8")).hexdigest()


def extract_tickers(text: str) -> tuple[str, ...]:
    """Cashtags (upper-cased, without the `$`) and Chinese stock codes (as `normalise_ticker` writes them), in
    order of first appearance."""
    text = unicodedata.normalize("NFKC", text)
    found = [(m.start(), m.group(1).upper()) for m in _TICKER.finditer(text)]
    found += [(m.start(), normalise_ticker(m.group(0))) for m in _CODE.finditer(text)]
    found += [(m.start(), code) for m in _BRACKETED.finditer(text) if (code := _bare_code(m.group(1)))]
    return tuple(dict.fromkeys(key for _, key in sorted(found)))


def normalise_ticker(value: str) -> str:
    """One spelling per ticker: `$tsla` -> `TSLA`; `sh600519`, `600519.ss` -> `600519.SH`; `0700.hk` -> `00700.HK`
    (full-width characters folded first)."""
    key = unicodedata.normalize("NFKC", value).strip().lstrip("$").upper()
    match = _CODE.fullmatch(key)
    if match is None:
        return key[:MAX_KEY]
    if match.group(1):
        return f"{match.group(1)}.{'SH' if match.group(2) == 'SS' else match.group(2)}"
    if match.group(3):
        return f"{match.group(3).zfill(5)}.HK"
    return f"{match.group(6)}.{match.group(5)}"


def _bare_code(digits: str) -> str | None:
    """The key of a bracketed bare code: five digits are Hong Kong, six an A share by its first digit."""
    if len(digits) == 5:
        return f"{digits}.HK"
    board = _A_SHARE_BOARDS.get(digits[0])
    return f"{digits}.{board}" if board else None


def normalise_key(value: str) -> str:
    return _SPACE.sub(" ", value).strip()[:MAX_KEY]


def parse_time(value: Any) -> datetime:
    """ISO 8601 text (`2024-05-01T13:45:00Z`; no zone means UTC) or seconds since the epoch."""
    if isinstance(value, bool) or value is None:
        raise ValueError("missing; give an ISO 8601 time or seconds since the epoch")
    try:
        if isinstance(value, int | float):
            if not math.isfinite(value):
                raise ValueError
            return datetime.fromtimestamp(float(value), UTC)
        stamp = datetime.fromisoformat(str(value).strip())
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{value!r} is not an ISO 8601 time or epoch seconds") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    try:
        return stamp.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None


def parse_event(raw: Any, where: str) -> tuple[Event | None, list[str]]:
    """One event from a mapping; returns (event, []) or (None, [problems as 'field: message'])."""
    if not isinstance(raw, Mapping):
        return None, ["(line): must be a JSON object with text and timestamp"]
    problems = []
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("text: missing or empty")
    elif len(text) > MAX_TEXT:
        problems.append(f"text: longer than {MAX_TEXT} characters")
    elif not _clean(text):
        problems.append("text: contains a NUL byte or a lone surrogate")
    stamp = None
    try:
        stamp = parse_time(raw.get("timestamp", raw.get("time")))
    except ValueError as exc:
        problems.append(f"timestamp: {exc}")
    source = raw.get("source", "")
    if not isinstance(source, str) or not _clean(source):
        problems.append("source: must be text")
        source = ""
    tickers = _names(raw.get("tickers"), "tickers", problems)
    entities = _names(raw.get("entities"), "entities", problems)
    if problems or stamp is None:
        return None, problems
    assert isinstance(text, str)
    found = extract_tickers(text)
    given = tuple(normalise_ticker(t) for t in tickers if t.lstrip("$"))
    merged = tuple(dict.fromkeys(given + found))
    return Event(text, stamp, source[:MAX_KEY], merged, entities), []


def parse_events(rows: Iterable[tuple[str, int | None, Any]]) -> list[Event]:
    """Events from (path, line, raw) rows; every problem in every row is reported at once (DataError)."""
    events, problems = [], []
    for path, line, raw in rows:
        event, found = parse_event(raw, path)
        problems += [DataProblem(path, msg.split(": ", 1)[1], line, msg.split(": ", 1)[0]) for msg in found]
        if event is not None:
            events.append(event)
    if problems:
        raise DataError(problems, hint="each event needs `text` and `timestamp` (ISO 8601 or epoch seconds)")
    return events


def parse_jsonl_lines(lines: Iterable[str], path: str, first_line: int = 1) -> list[Event]:
    """Events from JSONL text lines (blank lines skipped); bad JSON is reported with its line number."""
    rows: list[tuple[str, int | None, Any]] = []
    problems = []
    for number, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        try:
            rows.append((path, number, json.loads(line)))
        except ValueError as exc:
            problems.append(DataProblem(path, f"not valid JSON: {exc}", number))
    try:
        events = parse_events(rows)
    except DataError as exc:
        problems += exc.problems
        events = []
    if problems:
        raise DataError(sorted(problems, key=lambda p: p.line or 0))
    return events


def read_jsonl(path: str | Path) -> list[Event]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError([DataProblem(str(path), "no such file")]) from None
    except UnicodeDecodeError as exc:
        raise DataError([DataProblem(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    return parse_jsonl_lines(text.splitlines(), str(path))


def chunked(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _clean(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeError:
        return False
    return True


def _names(value: Any, field: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() and _clean(v) for v in value):
        problems.append(f"{field}: must be a list of non-empty strings")
        return ()
    return tuple(dict.fromkeys(normalise_key(v) for v in value))
