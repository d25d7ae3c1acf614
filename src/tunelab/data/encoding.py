"""Read a file's bytes and decode them as UTF-8 line by line, reporting each undecodable line."""

from __future__ import annotations

from pathlib import Path

from tunelab.errors import DataProblem

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def read_bytes(path: Path) -> tuple[bytes | None, list[DataProblem]]:
    """The file's bytes, or None plus a problem when it cannot be read."""
    try:
        return path.read_bytes(), []
    except FileNotFoundError:
        return None, [DataProblem(str(path), "file not found")]
    except IsADirectoryError:
        return None, [DataProblem(str(path), "is a folder, not a file")]
    except OSError as exc:
        return None, [DataProblem(str(path), f"cannot read the file: {exc.strerror or exc}")]


def decode_line(raw: bytes, path: str, line: int) -> tuple[str, DataProblem | None]:
    """Decode one line strictly; on failure replace bad bytes and describe the first one."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        column = len(raw[: exc.start].decode("utf-8", errors="replace")) + 1
        message = (f"bytes that are not UTF-8 (byte 0x{raw[exc.start]:02x} at column {column}); "
                   "re-save the file as UTF-8")
        return raw.decode("utf-8", errors="replace"), DataProblem(path, message, line=line)


def decode_bytes(data: bytes, path: str) -> tuple[str, list[DataProblem]]:
    """Decoded text (bad bytes replaced, BOM stripped) plus one problem per line with bad bytes."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    parts: list[str] = []
    problems: list[DataProblem] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text, problem = decode_line(raw, path, number)
        parts.append(text)
        if problem is not None:
            problems.append(problem)
    return "\n".join(parts), problems


def read_text(path: Path) -> tuple[str | None, list[DataProblem]]:
    """A file's text decoded as UTF-8; None when the file cannot be read at all."""
    data, problems = read_bytes(path)
    if data is None:
        return None, problems
    if data.startswith(UTF16_BOMS):
        return None, [DataProblem(str(path), "the file is UTF-16 (or UTF-32) encoded; re-save it as UTF-8", line=1)]
    return decode_bytes(data, str(path))
