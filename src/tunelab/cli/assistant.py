"""`tunelab assistant ...`: build, ask and evaluate a customer-service assistant."""

from __future__ import annotations

import typer

assistant_app = typer.Typer(help="Customer-service assistant: intents, FAQ answers, hand-off to a human.",
                            no_args_is_help=True)
