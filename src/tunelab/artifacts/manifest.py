"""The run manifest: schema-versioned JSON that says what a run folder holds; written last, it marks completion."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunelab.artifacts.cards import ArtifactCard, read_cards, with_cards
from tunelab.artifacts.files import read_json, write_json_atomic
from tunelab.errors import ArtifactError, IncompleteRunError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


@dataclass
class Manifest:
    """What a finished run is: task, labels, base model, data fingerprint, metrics, timings."""

    task: str
    labels: list[str]
    base_model: str
    method: str
    max_length: int
    data_fingerprint: str
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    task_state: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    precision: str = "fp32"
    schema_version: int = SCHEMA_VERSION
    artifacts: dict[str, Any] = field(default_factory=dict)  # files, adapter, optimized (cards), distillation
    privacy: dict[str, Any] = field(default_factory=dict)  # DP training: ε spent, δ, noise, sampling (else empty)
    few_shot: dict[str, Any] = field(default_factory=dict)  # classification: whether the few-shot recipe ran, why

    def cards(self) -> dict[str, ArtifactCard]:
        """The report cards of its compressed artifacts (`tunelab export` / `prune` / `distill`), by name."""
        return read_cards(self.artifacts)

    def to_json(self) -> dict[str, Any]:
        """The stored form (what manifest.json holds)."""
        return asdict(self)


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("tunelab", "torch", "transformers", "peft", "safetensors", "tokenizers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def save_manifest(run_dir: Path, manifest: Manifest) -> None:
    write_json_atomic(run_dir / MANIFEST, manifest.to_json())


def record_cards(run_dir: Path, cards: Mapping[str, ArtifactCard]) -> None:
    """Add report cards to the run's manifest, replacing same-named ones."""
    manifest = load_manifest(run_dir)
    manifest.artifacts = with_cards(manifest.artifacts, cards)
    save_manifest(run_dir, manifest)


def free_card_name(run_dir: Path, name: str, run_path: str | None) -> str:
    """`name` for a new card of a model kept in its own folder (`run_path`), unless the run's manifest already holds
    a card of that name for another folder (a second pruned or distilled model of the same shape: another seed,
    other unlabelled texts): then `name` and the new folder's name, and a count after it where a folder of that
    name under another parent holds that one too, so every earlier card stays listed."""
    cards = load_manifest(run_dir).cards()

    def free(candidate: str) -> bool:
        held = cards.get(candidate)
        return held is None or held.run_path is None or run_path is None or held.run_path == run_path

    if free(name):
        return name
    assert run_path is not None  # free() holds without one
    base = candidate = f"{name}-{Path(run_path).name}"
    count = 2
    while not free(candidate):
        candidate, count = f"{base}-{count}", count + 1
    return candidate


def read_manifest(run_dir: str | Path) -> Manifest | None:
    """The manifest of a finished run, or None where there is none that loads (unfinished, missing, damaged):
    for pages and listings that show what they can; `load_manifest` says why."""
    try:
        return load_manifest(Path(run_dir))
    except (ArtifactError, OSError):
        return None


def load_manifest(run_dir: Path) -> Manifest:
    """Read and check a run's manifest; an unfinished run raises IncompleteRunError."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ArtifactError(f"run folder {run_dir} does not exist", hint="list runs with `tunelab runs`")
    path = run_dir / MANIFEST
    if not path.is_file():
        raise IncompleteRunError(f"{run_dir} has no manifest.json: training did not finish",
                                 hint=f"continue it with `tunelab train --resume {run_dir}`")
    try:
        raw = read_json(path)
    except ValueError as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ArtifactError(f"{path}: schema version {version!r} is not supported (expected {SCHEMA_VERSION})",
                            hint="re-train the run with this TuneLab version")
    known = set(Manifest.__dataclass_fields__)
    try:
        return Manifest(**{k: v for k, v in raw.items() if k in known})
    except TypeError as exc:
        raise ArtifactError(f"{path} is missing fields: {exc}") from None
