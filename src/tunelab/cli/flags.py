"""Typer options generated from the run config's fields: a flag per field, its docstring as the help."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from tunelab.config import ConfigOption, config_options

PANELS = {"data": "Data", "model": "Model", "train": "Training", "run": "Run"}
SHORT = {"output": "-o"}


def flag_name(option: ConfigOption) -> str:
    """`batch_size` -> `--batch-size`."""
    return "--" + option.name.replace("_", "-")


def with_config_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give `command` (which takes `**flags`) one option per run-config field, ahead of its own options, by
    rewriting its signature; Typer reads that signature. Each flag defaults to None ("not given")."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
           if p.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {p.name for p in own}
    generated = [_parameter(option) for option in config_options() if option.name not in taken]
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in generated + own]
    command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    return command


def _parameter(option: ConfigOption) -> inspect.Parameter:
    decls = [flag_name(option), *([SHORT[option.name]] if option.name in SHORT else [])]
    info = typer.Option(*decls, help=help_text(option), show_default=False, rich_help_panel=PANELS[option.section])
    hint = _optional(option.hint)
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[hint, info])


def help_text(option: ConfigOption) -> str:
    """The field's docstring, with its default when it has one (None defaults are explained in the text)."""
    text = option.help or option.path
    if option.default is not None:
        text += f" (default: {option.default})"
    return text


def _optional(hint: Any) -> Any:
    """`int` -> `int | None`: a flag left out is None."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return hint
    return hint | None
