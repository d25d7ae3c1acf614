"""Run folders as the dashboard shows them: the runs table, one run's details, and two runs compared.

Runs live in the server's runs folder (`runs_root`, else `home()/runs`: $TUNELAB_HOME/runs); registered versions whose
folders are elsewhere are listed too, under the id `model@version`. Everything is read from the run
folder's own files (manifest.json, metrics.json, history.json, config.yaml, README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tunelab.artifacts.cards import ArtifactCard
from tunelab.artifacts.manifest import Manifest, read_manifest
from tunelab.errors import NotFoundError
from tunelab.recipes.runs import list_runs
from tunelab.registry import Store, parse_ref

PLOTS = ("training_curves.png", "confusion_matrix.png", "calibration.png", "per_class_f1.png",
         "dev_confusion_matrix.png", "dev_calibration.png", "dev_per_class_f1.png")


@dataclass(frozen=True)
class RunDetail:
    id: str
    path: Path
    finished: bool
    manifest: Manifest | None  # None until training finished
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    config: dict[str, Any]
    card: str
    plots: tuple[str, ...]

    def split(self) -> str:
        """The split the run page reports: test when there is one, else dev."""
        return "test" if "test" in self.metrics else "dev"


@dataclass(frozen=True)
class Comparison:
    a: RunDetail
    b: RunDetail
    metrics: list[tuple[str, Any, Any, float | None]]  # name, a, b, b - a
    per_class: list[tuple[str, float | None, float | None, float | None]]  # label, f1 a, f1 b, b - a
    config: list[tuple[str, Any, Any]]  # dotted key, a, b (only keys that differ)


def registered_by_path(store: Store) -> dict[str, list[str]]:
    """Resolved run folder -> ['intents@1 (production)', ...] for every registered version."""
    out: dict[str, list[str]] = {}
    for model in store.list_models():
        for v in model.versions:
            tags = f" ({', '.join(v.aliases)})" if v.aliases else ""
            out.setdefault(str(Path(v.run_path).resolve()), []).append(f"{v.model}@{v.version}{tags}")
    return out


def list_all_runs(root: Path, store: Store) -> list[dict[str, Any]]:
    """The runs folder's runs (as `tunelab runs`), then registered versions kept elsewhere."""
    registered = registered_by_path(store)
    rows = [{**row, "id": row["name"]} for row in list_runs(root)]
    seen = {str(Path(row["path"]).resolve()) for row in rows}
    for model in store.list_models():
        for v in model.versions:
            path = Path(v.run_path).resolve()
            if str(path) in seen:
                continue
            seen.add(str(path))
            rows.extend({**row, "id": f"{v.model}@{v.version}"} for row in list_runs(path.parent)
                        if Path(row["path"]).resolve() == path)
    for row in rows:
        row["registered"] = registered.get(str(Path(row["path"]).resolve()), [])
    return rows


def find_run(root: Path, store: Store, run_id: str) -> Path:
    """The folder of a run id: a direct child of the runs folder, or `model@version` of the registry."""
    if "@" in run_id:
        ref = parse_ref(run_id)
        if ref.version is None:
            raise NotFoundError(f"no run {run_id!r}", hint="use model@VERSION, e.g. intents@2")
        return Path(store.get_version(ref.name, ref.version).run_path)
    if root.is_dir():
        for child in root.iterdir():  # compared by name: no path is built from the request
            if child.name == run_id and child.is_dir() and (child / "config.yaml").is_file():
                return child
    raise NotFoundError(f"no run {run_id!r} in {root}")


def load_run(run_id: str, path: Path) -> RunDetail:
    manifest = read_manifest(path)
    config = {}
    if (path / "config.yaml").is_file():
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    card = (path / "README.md").read_text(encoding="utf-8") if (path / "README.md").is_file() else ""
    return RunDetail(run_id, path, manifest is not None, manifest, _json(path / "metrics.json", {}),
                     _json(path / "history.json", []), config, card,
                     tuple(p for p in PLOTS if (path / p).is_file()))


def artifact_rows(manifest: Manifest | None) -> list[ArtifactCard]:
    """The report cards of exported, pruned and distilled models (`tunelab export` / `prune` / `distill`)."""
    return list(manifest.cards().values()) if manifest is not None else []


def per_class_rows(metrics: dict[str, Any], split: str) -> list[dict[str, Any]]:
    report = metrics.get(split) or {}
    return [{"label": label, **values} for label, values in (report.get("per_class") or {}).items()]


def confusion(metrics: dict[str, Any], split: str) -> tuple[list[str], list[list[int]]]:
    report = metrics.get(split) or {}
    return list(report.get("labels") or []), list(report.get("confusion_matrix") or [])


def compare_runs(a: RunDetail, b: RunDetail) -> Comparison:
    return Comparison(a, b, _metric_rows(a, b), _per_class_deltas(a, b), _config_diff(a.config, b.config))


def _metric_rows(a: RunDetail, b: RunDetail) -> list[tuple[str, Any, Any, float | None]]:
    rows = []
    metrics_a, metrics_b = (a.manifest.metrics if a.manifest else {}), (b.manifest.metrics if b.manifest else {})
    for split in ("dev", "test"):
        for name in sorted(set(metrics_a.get(split, {})) | set(metrics_b.get(split, {}))):
            va, vb = metrics_a.get(split, {}).get(name), metrics_b.get(split, {}).get(name)
            rows.append((f"{split} {name}", va, vb, _delta(va, vb)))
    timings_a, timings_b = (a.manifest.timings if a.manifest else {}), (b.manifest.timings if b.manifest else {})
    for name in ("train_seconds", "samples_per_second", "steps"):
        va, vb = timings_a.get(name), timings_b.get(name)
        rows.append((name.replace("_", " "), va, vb, _delta(va, vb)))
    return rows


def _per_class_deltas(a: RunDetail, b: RunDetail) -> list[tuple[str, float | None, float | None, float | None]]:
    split = "test" if "test" in a.metrics and "test" in b.metrics else "dev"
    fa = {r["label"]: r.get("f1") for r in per_class_rows(a.metrics, split)}
    fb = {r["label"]: r.get("f1") for r in per_class_rows(b.metrics, split)}
    rows = [(label, fa.get(label), fb.get(label), _delta(fa.get(label), fb.get(label)))
            for label in sorted(set(fa) | set(fb))]
    return sorted(rows, key=lambda r: (r[3] is None, r[3] if r[3] is not None else 0.0))


def _config_diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    fa, fb = _flatten(a), _flatten(b)
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _delta(a: Any, b: Any) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return round(float(b) - float(a), 6)
    return None


def _json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
