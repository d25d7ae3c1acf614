"""TuneLab's home folder: `$TUNELAB_HOME`, else ~/.tunelab (the registry, unpacked models, dashboard files)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "TUNELAB_HOME"


def home() -> Path:
    """The folder TuneLab keeps its own files in: `$TUNELAB_HOME` when set (and not empty), else ~/.tunelab.

    Read on every call, never cached, so a test (or a server) that sets the variable is followed at once.
    What lives here: `registry.db` (the default registry), `models/` (models unpacked from pip packages),
    `runs/` and `uploads/` (the dashboard), `dashboard-secret`.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".tunelab"
