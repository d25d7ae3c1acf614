"""HTTP routes of the monitor application (`tunelab.apps.monitor`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def install(app: FastAPI, state: Any) -> None:
    """Add the monitor routes (and any background work) to the app."""
