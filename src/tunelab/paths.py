"""Path policy: a path is used only when it resolves (symlinks followed) under an allowed root; bounded file reads."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from tunelab.errors import UsageError

MAX_CONFIG_BYTES = 1_000_000  # config, rules and secrets files: far more than any real one


def check_under(path: str | Path, roots: Iterable[str | Path], *, what: str = "path") -> Path:
    """The resolved `path` (symlinks followed) when it lies under one of `roots` (also resolved); else UsageError.

    NUL bytes are refused, as is an empty list of roots (nothing is allowed until the operator names a root).
    """
    text = str(path)
    if "\x00" in text or any("\x00" in str(r) for r in roots):
        raise UsageError(f"{what} contains a NUL byte")
    allowed = [Path(r).expanduser().resolve() for r in roots if str(r)]
    if not allowed:
        raise UsageError(f"{what} {text!r}: no folder is allowed here",
                         hint="the operator allows folders with the server's runs_root setting")
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise UsageError(f"{what} {text!r} cannot be resolved ({type(exc).__name__})") from None
    if not any(resolved == root or resolved.is_relative_to(root) for root in allowed):
        raise UsageError(f"{what} {text!r} is outside the allowed folders",
                         hint="allowed: " + ", ".join(str(r) for r in allowed))
    return resolved


def read_text_bounded(path: str | Path, *, max_bytes: int = MAX_CONFIG_BYTES, what: str = "file") -> str:
    """The UTF-8 text of a regular file of at most `max_bytes` bytes. A FIFO, a device (/dev/zero) or a folder is
    refused without blocking; errors name the file, never its content."""
    name = str(path)
    if "\x00" in name:
        raise UsageError(f"{what} name contains a NUL byte")
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise UsageError(f"{name}: no such {what}") from None
    except OSError as exc:
        raise UsageError(f"{name}: cannot open the {what} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{name}: not a regular file", hint=f"give the path of a {what}")
        if info.st_size > max_bytes:
            raise UsageError(f"{name}: larger than {max_bytes} bytes")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UsageError(f"{name}: larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 text (byte {exc.start})") from None
