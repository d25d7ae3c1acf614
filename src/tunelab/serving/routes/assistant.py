"""HTTP routes of the assistant application (`tunelab.apps.assistant`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def install(app: FastAPI, state: Any) -> None:
    """Add the assistant routes (and any background work) to the app."""
