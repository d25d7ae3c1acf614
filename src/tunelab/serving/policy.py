"""The server's path policy: a folder named by a caller (API, dashboard) must lie under the allowed roots.

One function for every surface, so the API, the dashboard and the CLI-run server agree: the path is resolved
(symlinks followed) before it is compared, a NUL byte is refused, and the error never echoes the resolved path.
"""

from __future__ import annotations

from pathlib import Path

from tunelab.errors import UsageError
from tunelab.serving.settings import ServeSettings


def allowed_roots(settings: ServeSettings) -> list[Path]:
    """The runs folder when `runs_root` is set; otherwise any folder (a local, single-user server)."""
    return [Path(settings.runs_root).resolve()] if settings.runs_root else []


def check_folder(settings: ServeSettings, raw: str, what: str = "run_path") -> Path:
    """`raw` resolved, if it lies under an allowed root; UsageError (400) otherwise."""
    if "\x00" in raw:
        raise UsageError(f"{what} contains a NUL byte")
    folder = Path(raw).expanduser().resolve()
    roots = allowed_roots(settings)
    if roots and not any(folder.is_relative_to(root) for root in roots):
        raise UsageError(f"{what} must be inside the server's runs folder", hint=settings.runs_root)
    return folder
