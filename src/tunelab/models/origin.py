"""Where a base model comes from (its Hugging Face Hub id and licence), read from local files only, for model cards."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# The models TuneLab bundles or packages, by every name `--model` accepts for them.
_MINILM = ("sentence-transformers/all-MiniLM-L6-v2", "apache-2.0")
_MPNET = ("sentence-transformers/all-mpnet-base-v2", "apache-2.0")
KNOWN = {"minilm": _MINILM, "all-minilm-l6-v2": _MINILM, "sentence-transformers/all-minilm-l6-v2": _MINILM,
         "mpnet": _MPNET, "all-mpnet-base-v2": _MPNET, "sentence-transformers/all-mpnet-base-v2": _MPNET}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Descriptions of derived runs (recipes/prune.py and distill.py) start with the origin's name or folder.
_DERIVED = re.compile(r"^(.*?)(?:, pruned: | cut to \d+ layers$)")


@dataclass(frozen=True)
class BaseModelOrigin:
    """The hub id of the model a run was fine-tuned from, and its licence; None where not known locally."""

    hub_id: str | None = None
    license: str | None = None


def find_origin(name: str, depth: int = 0) -> BaseModelOrigin:
    """A bundled model's known id; a TuneLab run's own origin (from its manifest); a folder's `_name_or_path`
    (config.json) when it reads as a hub id, with the licence from its README.md front matter."""
    if depth > 8:
        return BaseModelOrigin()
    if name.lower() in KNOWN:
        return BaseModelOrigin(*KNOWN[name.lower()])
    derived = _DERIVED.match(name)
    if derived:
        return find_origin(derived.group(1), depth + 1)
    folder = Path(name).expanduser()
    if (folder / "manifest.json").is_file():  # a TuneLab run fine-tuned further
        base = _read_json(folder / "manifest.json").get("base_model")
        return find_origin(base, depth + 1) if isinstance(base, str) else BaseModelOrigin()
    if (folder / "config.json").is_file():
        hub_id = _read_json(folder / "config.json").get("_name_or_path")
        usable = isinstance(hub_id, str) and _HUB_ID.match(hub_id) and not Path(hub_id).exists()
        return BaseModelOrigin(hub_id if usable else None, _card_license(folder / "README.md"))
    return BaseModelOrigin()


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _card_license(readme: Path) -> str | None:
    if not readme.is_file():
        return None
    from huggingface_hub import metadata_load  # parses the local file's YAML front matter; no network

    try:
        license_id = (metadata_load(readme) or {}).get("license")
    except Exception:  # noqa: BLE001 - a broken card in the base folder must not stop a run; the licence is omitted
        return None
    return license_id if isinstance(license_id, str) else None
