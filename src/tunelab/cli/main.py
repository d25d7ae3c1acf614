"""Entry point: builds the Typer app and turns TunelabErrors into messages and exit codes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tunelab.cli import commands, privacy, service
from tunelab.cli.assistant import assistant_app
from tunelab.cli.data import data_app
from tunelab.cli.explain import explain
from tunelab.cli.monitor import monitor_app
from tunelab.cli.policies import privacy_app
from tunelab.cli.recommend import recommend_app
from tunelab.cli.retrain import loop_app  # cli.loop's app, with run/history/rollback added
from tunelab.errors import TunelabError

app = typer.Typer(help="TuneLab: fine-tune, evaluate and serve transformer models on your own labelled text.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _print_version(value: bool) -> None:
    if value:
        from tunelab import installed_version

        print(f"tunelab {installed_version()}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                                   help="Print the installed version and exit.")] = False) -> None:
    pass


app.command("train")(commands.train)
app.command("evaluate")(commands.evaluate)
app.command("predict")(commands.predict)
app.command("explain")(explain)
app.command("runs")(commands.runs)
app.command("demo")(commands.demo)
app.command("export")(commands.export)
app.command("prune")(commands.prune)
app.command("distill")(commands.distill)
app.command("redact")(privacy.redact)
app.command("serve")(service.serve)
app.add_typer(service.models_app, name="models")
app.add_typer(service.keys_app, name="keys")
app.add_typer(service.ab_app, name="ab")
app.add_typer(assistant_app, name="assistant")
app.add_typer(monitor_app, name="monitor")
app.add_typer(recommend_app, name="recommend")
app.add_typer(loop_app, name="loop")
app.add_typer(data_app, name="data")
app.add_typer(privacy_app, name="privacy")


def main() -> None:
    try:
        code = app(standalone_mode=False)  # a `typer.Exit(code)` comes back as the return value here
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors; Typer vendors click, so `click.ClickException` never matches
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
