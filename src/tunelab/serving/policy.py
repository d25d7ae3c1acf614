"""The server's path policy: a folder named by a caller (API, dashboard, monitor config) must lie under the runs
folder (`runs_root`, else `home()/runs`), symlinks followed. One function for every surface, so the API, the
dashboard and the monitors agree; the operator's own CLI on the server's machine is not a caller."""

from __future__ import annotations

from pathlib import Path

from tunelab.errors import UsageError
from tunelab.home import home
from tunelab.models.resolve import known_model_names
from tunelab.paths import check_under
from tunelab.serving.settings import ServeSettings


def runs_folder(settings: ServeSettings) -> Path:
    """Where the server's runs live: `runs_root`, else the `runs` folder in TuneLab's home."""
    return Path(settings.runs_root) if settings.runs_root else home() / "runs"


def check_folder(settings: ServeSettings, raw: str, what: str = "run_path") -> Path:
    """`raw` resolved, if it lies under the runs folder; UsageError (400) otherwise, naming neither the resolved
    path nor anything outside the runs folder."""
    root = runs_folder(settings)
    if "\x00" in raw:
        raise UsageError(f"{what} contains a NUL byte")
    try:
        return check_under(raw, [root], what=what)
    except UsageError:
        raise UsageError(f"{what} must be inside the server's runs folder",
                         hint=f"the runs folder is {root}; the operator sets it with runs_root") from None


def check_base_model(settings: ServeSettings, name: str) -> str:
    """A base model for a run started by a caller: a bundled model's name, or a folder under the runs folder."""
    name = name.strip()
    if name.lower() in known_model_names():
        return name
    if not name:
        raise UsageError("the base model is empty", hint="use minilm, or a run folder under the runs folder")
    return str(check_folder(settings, name, "model"))
