"""Entry point: builds the Typer app and turns TunelabErrors into messages and exit codes."""

from __future__ import annotations

import sys

import typer

from tunelab.cli import commands, service
from tunelab.cli.assistant import assistant_app
from tunelab.cli.monitor import monitor_app
from tunelab.errors import TunelabError

app = typer.Typer(help="TuneLab: fine-tune, evaluate and serve transformer models on your own labelled text.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.command("train")(commands.train)
app.command("evaluate")(commands.evaluate)
app.command("predict")(commands.predict)
app.command("runs")(commands.runs)
app.command("demo")(commands.demo)
app.command("export")(commands.export)
app.command("prune")(commands.prune)
app.command("distill")(commands.distill)
app.command("serve")(service.serve)
app.add_typer(service.models_app, name="models")
app.add_typer(service.keys_app, name="keys")
app.add_typer(service.ab_app, name="ab")
app.add_typer(assistant_app, name="assistant")
app.add_typer(monitor_app, name="monitor")


def main() -> None:
    try:
        app(standalone_mode=False)
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors come through here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
