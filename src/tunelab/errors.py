"""The TuneLab error tree: every failure a user can cause has a class, a stable code and an exit code.

    TunelabError (exit 1)                       code
    ├── UsageError (ValueError, exit 2)         usage_error
    │   └── ConfigError                         config_error
    ├── DataError (ValueError, exit 2)          data_error        .problems: list[DataProblem]
    ├── ModelNotFoundError (FileNotFoundError, exit 2)  model_not_found
    ├── ArtifactError (exit 2)                  artifact_error
    │   └── IncompleteRunError                  incomplete_run
    └── TrainingError (RuntimeError)            training_error

Errors that are also builtins (a DataError is a ValueError) can be caught either way.
"""

from __future__ import annotations

from dataclasses import dataclass


class TunelabError(Exception):
    """Base of every error TuneLab raises on purpose."""

    code = "tunelab_error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(TunelabError, ValueError):
    """A command or function was called with arguments that cannot work."""

    code = "usage_error"
    exit_code = 2


class ConfigError(UsageError):
    """A config file or override is malformed: unknown key, wrong type, bad value."""

    code = "config_error"


@dataclass(frozen=True)
class DataProblem:
    """One problem found in an input file, located as precisely as possible."""

    path: str
    message: str
    line: int | None = None  # 1-based physical line (or CSV record's first line)
    column: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
        if self.column:
            where += f" [{self.column}]"
        return f"{where}: {self.message}"


class DataError(TunelabError, ValueError):
    """Input data failed validation; `problems` lists every error found, all at once."""

    code = "data_error"
    exit_code = 2

    def __init__(self, problems: list[DataProblem], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        if more > 0:
            shown += f"\n  ... and {more} more"
        n = len(self.problems)
        super().__init__(f"{n} data problem{'s' if n != 1 else ''} found:\n{shown}", hint=hint)


class ModelNotFoundError(TunelabError, FileNotFoundError):
    """A base model name or folder could not be resolved to local files."""

    code = "model_not_found"
    exit_code = 2


class ArtifactError(TunelabError):
    """A run folder or artifact is missing, malformed or of an unknown schema."""

    code = "artifact_error"
    exit_code = 2


class IncompleteRunError(ArtifactError):
    """A run folder exists but training did not finish (no manifest.json)."""

    code = "incomplete_run"


class TrainingError(TunelabError, RuntimeError):
    """Training could not proceed (diverged, nothing to resume, ...)."""

    code = "training_error"
