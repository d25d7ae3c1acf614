"""The TuneLab error tree: every failure a user can cause has a class, a stable code and an exit code.

    TunelabError (exit 1)                       code
    ├── UsageError (ValueError, exit 2)         usage_error
    │   ├── ConfigError                         config_error      .problems: list[ConfigProblem]
    │   ├── MissingExtraError                   missing_extra     .extra: the pip extra to install
    │   └── UnknownLabelError                   unknown_label     HTTP 422  details.allowed: the model's labels
    ├── DataError (ValueError, exit 2)          data_error        .problems: list[DataProblem]
    ├── ModelNotFoundError (FileNotFoundError, exit 2)  model_not_found
    ├── ArtifactError (exit 2)                  artifact_error
    │   └── IncompleteRunError                  incomplete_run
    ├── TrainingError (RuntimeError)            training_error
    ├── NotFoundError (LookupError, exit 2)     not_found          HTTP 404
    ├── ConflictError (exit 2)                  conflict           HTTP 409
    ├── AuthError (exit 2)                      unauthorized       HTTP 401
    │   └── ForbiddenError                      forbidden          HTTP 403
    └── RateLimitError (exit 1)                 rate_limited       HTTP 429  .retry_after seconds

Every class has `http_status`; the server answers `{code, message, details}` with it and the SDK
rebuilds the same class from `code` (see `error_from_code`).

Errors that are also builtins (a DataError is a ValueError) can be caught either way.
"""

from __future__ import annotations

from dataclasses import dataclass


class TunelabError(Exception):
    """Base of every error TuneLab raises on purpose."""

    code = "tunelab_error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: dict = {}  # machine-readable context (the server's JSON error `details`)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(TunelabError, ValueError):
    """A command or function was called with arguments that cannot work."""

    code = "usage_error"
    exit_code = 2
    http_status = 400


class UnknownLabelError(UsageError):
    """A label (feedback, a correction) that the model does not have; `details["allowed"]` lists its labels."""

    code = "unknown_label"
    http_status = 422

    def __init__(self, message: str, *, allowed: tuple[str, ...] | list[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.details = {"allowed": list(allowed)}


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration, located by its dotted key path (`train.lr`, `rules[0].above`)."""

    path: str
    message: str
    line: int | None = None  # unused by config readers; kept so problems of both kinds serialise alike
    column: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(UsageError):
    """A config file or override is malformed: unknown key, wrong type, bad value; `problems` lists them all."""

    code = "config_error"

    def __init__(self, message: str, *, hint: str | None = None, problems: list[ConfigProblem] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class MissingExtraError(UsageError):
    """An optional feature needs a package from a pip extra that is not installed (e.g. `tunelab[onnx]`)."""

    code = "missing_extra"

    def __init__(self, message: str, *, extra: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint or (f"pip install 'tunelab[{extra}]'" if extra else None))
        self.extra = extra
        self.details = {"extra": extra}


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
    http_status = 422

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
    http_status = 404


class ArtifactError(TunelabError):
    """A run folder or artifact is missing, malformed or of an unknown schema."""

    code = "artifact_error"
    exit_code = 2
    http_status = 409


class IncompleteRunError(ArtifactError):
    """A run folder exists but training did not finish (no manifest.json)."""

    code = "incomplete_run"


class TrainingError(TunelabError, RuntimeError):
    """Training could not proceed (diverged, nothing to resume, ...)."""

    code = "training_error"


class NotFoundError(TunelabError, LookupError):
    """A named thing (model, version, alias, prediction, key) does not exist."""

    code = "not_found"
    exit_code = 2
    http_status = 404


class ConflictError(TunelabError):
    """The request clashes with the current state (a name already taken, a revoked key)."""

    code = "conflict"
    exit_code = 2
    http_status = 409


class AuthError(TunelabError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"
    exit_code = 2
    http_status = 401


class ForbiddenError(AuthError):
    """The API key is valid but lacks the scope this call needs."""

    code = "forbidden"
    http_status = 403


class RateLimitError(TunelabError):
    """Too many requests for this API key; retry after `retry_after` seconds."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_from_code(code: str, message: str, details: dict | None = None) -> TunelabError:
    """Rebuild the error class named by a server's `code` (the SDK raises what the server raised)."""
    details = details or {}
    for cls in [TunelabError, *_all_subclasses(TunelabError)]:
        if cls.code != code:
            continue
        if cls is DataError:
            problems = [DataProblem(path=p.get("path", "request"), message=p.get("message", ""),
                                    line=p.get("line"), column=p.get("column"))
                        for p in details.get("problems", [])]
            err = DataError(problems or [DataProblem("request", message)])
        elif cls is ConfigError:
            err = ConfigError(message, problems=[ConfigProblem(str(p.get("path", "")), str(p.get("message", "")))
                                                 for p in details.get("problems", []) if isinstance(p, dict)])
        elif cls is RateLimitError:
            err = RateLimitError(message, retry_after=float(details.get("retry_after", 1.0)))
        else:
            err = cls(message)
        err.details = details
        return err
    err = TunelabError(message)
    err.code = code  # a server code with no class of its own (invalid_request, payload_too_large, ...)
    err.details = details
    return err
