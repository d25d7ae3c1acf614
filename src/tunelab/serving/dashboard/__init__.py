"""The web dashboard served at `/` by `tunelab serve`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def install(app: FastAPI, state: Any) -> None:
    """Add the dashboard pages to the app."""
