"""Resumable checkpoints in safetensors + JSON only: model, optimiser, scheduler, RNG and loop state."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.artifacts.files import replace_dir_atomic, write_json_atomic
from tunelab.errors import TrainingError

KEEP_LAST = 2


@dataclass
class LoopState:
    """Where the loop is, and what it has seen; enough to continue exactly."""

    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    total_steps: int = 0
    best_metric: float | None = None
    best_step: int = -1
    bad_evals: int = 0
    stopped_early: bool = False
    finished: bool = False
    samples_seen: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0
    bottom_tokens_run: int = 0  # real tokens that ran through frozen bottom layers (not served from their cache)
    history: list[dict[str, Any]] = field(default_factory=list)


def state_dict_tensors(model: Any) -> dict[str, Any]:
    """What training can change: the state dict less the frozen parameters. Those are the pretrained weights the
    run starts from, rebuilt the same way on resume, so a checkpoint need not carry them (MiniLM with its word
    embeddings frozen: 29 of 91 MB)."""
    frozen = _frozen_names(model)
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items() if k not in frozen}


def save_model_state(model: Any, path: Path) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state_dict_tensors(model), str(tmp))
    tmp.replace(path)


def load_model_state(model: Any, path: Path) -> None:
    """Load weights saved by `save_model_state` (or a whole state dict); every weight the model trains must be in
    the file."""
    from safetensors.torch import load_file

    tensors, frozen = load_file(str(path)), _frozen_names(model)
    missing = [k for k in model.state_dict() if k not in tensors and k not in frozen]
    if missing:
        raise TrainingError(f"{path} lacks {len(missing)} trained weights ({', '.join(missing[:3])}...): it was "
                            "saved by a run that froze other layers (compare --frozen-layers, --method)")
    result = model.load_state_dict(tensors, strict=False)
    if result.unexpected_keys:
        raise TrainingError(f"{path} holds weights this model does not have ({', '.join(result.unexpected_keys[:3])})")


def _frozen_names(model: Any) -> set[str]:
    return {name for name, param in model.named_parameters() if not param.requires_grad}


def save_checkpoint(folder: Path, model: Any, optimizer: Any, scheduler: Any, state: LoopState,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write checkpoints/step-N atomically (temp folder, then rename) and prune old ones."""
    from safetensors.torch import save_file

    root = folder / "checkpoints"
    target = root / f"step-{state.global_step:08d}"
    staging = root / f".{target.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(state_dict_tensors(model), str(staging / "model.safetensors"))
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    save_file(opt_tensors, str(staging / "optimizer.safetensors"))
    rng_tensors, rng_meta = _capture_rng()
    save_file(rng_tensors, str(staging / "rng.safetensors"))
    extra = dict(extra or {})
    extra_tensors = extra.pop("tensors", None)
    if extra_tensors:
        save_file(extra_tensors, str(staging / "extra.safetensors"))
    meta = {"loop": asdict(state), "optimizer": opt_meta, "scheduler": scheduler.state_dict(),
            "rng": rng_meta, "extra": extra}
    write_json_atomic(staging / "state.json", meta)
    replace_dir_atomic(staging, target)
    for old in list_checkpoints(folder)[:-KEEP_LAST]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(folder: Path) -> list[Path]:
    root = folder / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-")
                  and (p / "state.json").is_file())


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> tuple[LoopState, dict[str, Any]]:
    """Restore everything saved by save_checkpoint; returns the loop state and the extra payload."""
    from safetensors.torch import load_file

    try:
        meta = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"checkpoint {path} is unreadable: {exc}") from None
    load_model_state(model, path / "model.safetensors")
    optimizer.load_state_dict(_unflatten_optimizer(load_file(str(path / "optimizer.safetensors")),
                                                   meta["optimizer"]))
    scheduler.load_state_dict(meta["scheduler"])
    _restore_rng(load_file(str(path / "rng.safetensors")), meta["rng"])
    extra = dict(meta.get("extra") or {})
    if (path / "extra.safetensors").is_file():
        extra["tensors"] = load_file(str(path / "extra.safetensors"))
    return LoopState(**meta["loop"]), extra


def _flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    tensors: dict[str, Any] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in sd["state"].items():
        scalars[str(index)] = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().contiguous().clone()
            else:
                scalars[str(index)][key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in meta["scalars"].items()}
    for name, value in tensors.items():
        index, _, key = name.partition(".")
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _capture_rng() -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state()
    np_state = np.random.get_state()
    py_state = random.getstate()
    meta = {"numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}
    return tensors, meta


def _restore_rng(tensors: dict[str, Any], meta: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["cuda"])
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
