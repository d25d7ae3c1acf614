"""`tunelab monitor ...`: ingest news, classify sentiment, aggregate per entity, alert, replay history."""

from __future__ import annotations

import typer

monitor_app = typer.Typer(help="Financial-news sentiment monitor with alerts.", no_args_is_help=True)
