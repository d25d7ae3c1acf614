"""Write a trained model as a folder plain transformers can load; adapters are merged and also kept apart."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.artifacts.files import read_json, sha256_file, write_json_atomic
from tunelab.models.casing import SETTING as CASE_SETTING

ADAPTER_DIR = "adapter"
CONFIG_KEY = "tunelab"  # config.json["tunelab"]: InferenceSettings, for plain transformers users


@dataclass(frozen=True)
class InferenceSettings:
    """What TuneLab's predictions depend on beyond the weights, saved in config.json under "tunelab" (plain
    `from_pretrained` keeps it as `model.config.tunelab`): texts are truncated to `max_length` tokens, and a
    multi-label run predicts a label when sigmoid(logit) >= `thresholds[label]` (tuned on dev). `pooling`: "mean"
    when the classifier reads the masked mean of the token states (the few-shot recipe; models/pooling.py) instead
    of the architecture's own [CLS] pooling. `case_id_base`: the words' case travels packed in the token ids with this
    base (models/casing.py)."""

    task: str
    max_length: int
    thresholds: dict[str, float] | None = None
    pooling: str | None = None
    case_id_base: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task": self.task, "max_length": self.max_length}
        if self.thresholds is not None:
            out["thresholds"] = dict(self.thresholds)
        if self.pooling is not None:
            out["pooling"] = self.pooling
        if self.case_id_base is not None:
            out[CASE_SETTING] = self.case_id_base
        return out


def is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config")


def export_model(model: Any, tokenizer: Any, run_dir: Path,
                 settings: InferenceSettings | None = None) -> dict[str, Any]:
    """Save weights (safetensors), config (with `settings` under "tunelab") and tokenizer into `run_dir` via a
    staging folder.

    A LoRA/AdaLoRA model is saved twice: the adapter with its task head in `adapter/`, and
    merged into the base weights at the top level so `AutoModelFor...from_pretrained` works."""
    staging = run_dir / ".export.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    plain = model
    if is_peft(model):
        model.save_pretrained(str(staging / ADAPTER_DIR), safe_serialization=True)
        plain = _merged_copy(model)
    plain.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    if settings is not None:
        config = read_json(staging / "config.json")
        config[CONFIG_KEY] = settings.to_dict()
        write_json_atomic(staging / "config.json", config)
    files = {}
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(staging))] = sha256_file(path)
    _move_into(staging, run_dir)
    return {"files": files, "adapter": ADAPTER_DIR if is_peft(model) else None}


def _merged_copy(model: Any) -> Any:
    import copy

    return copy.deepcopy(model).merge_and_unload()


def _move_into(staging: Path, run_dir: Path) -> None:
    """Rename every staged entry into place (each rename is atomic), then drop the staging folder."""
    for entry in sorted(staging.iterdir()):
        target = run_dir / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(entry, target)
    staging.rmdir()
