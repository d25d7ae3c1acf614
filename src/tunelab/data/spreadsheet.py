"""Cells safe to open in a spreadsheet: text that Excel, LibreOffice or Sheets would run as a formula
(`=cmd|...`, `+`, `-`, `@`, or a leading tab or carriage return) gets a leading apostrophe (OWASP's advice)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value` unchanged unless it is text a spreadsheet would evaluate; then prefixed with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
