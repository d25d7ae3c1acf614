"""The `tunelab` command line: thin commands that parse flags, call a recipe and print."""

from tunelab.cli.main import app, main

__all__ = ["app", "main"]
