"""List run folders with their status (complete, incomplete) and headline metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.artifacts.manifest import MANIFEST, load_manifest
from tunelab.errors import ArtifactError


def list_runs(folder: Path) -> list[dict[str, Any]]:
    """One row per sub-folder that is a run (has config.yaml or manifest.json), newest first."""
    if not folder.is_dir():
        return []
    rows = []
    for run_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (run_dir / MANIFEST).is_file():
            rows.append(_complete_row(run_dir))
        elif (run_dir / "config.yaml").is_file():
            rows.append({"name": run_dir.name, "path": str(run_dir), "status": "incomplete"})
    return sorted(rows, key=lambda r: r.get("created_at") or "", reverse=True)


def _complete_row(run_dir: Path) -> dict[str, Any]:
    try:
        m = load_manifest(run_dir)
    except ArtifactError as exc:
        return {"name": run_dir.name, "path": str(run_dir), "status": "unreadable", "error": str(exc)}

    def headline(split: str) -> float | None:
        values = m.metrics.get(split) or {}
        return next(iter(values.values()), None)

    return {"name": run_dir.name, "path": str(run_dir), "status": "complete", "task": m.task,
            "method": m.method, "base_model": m.base_model, "dev": headline("dev"), "test": headline("test"),
            "created_at": m.created_at, "train_seconds": m.timings.get("train_seconds")}
