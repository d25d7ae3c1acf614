"""Structured pruning: drop whole transformer layers from a fine-tuned encoder (the recovery fine-tune and
the accuracy gate are in `recipes/prune.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.errors import UsageError


def encoder_layers(model: Any) -> tuple[Any, str]:
    """The ModuleList of transformer blocks and the config key that counts them."""
    base = getattr(model, model.base_model_prefix, model)
    for path in ("encoder.layer", "transformer.layer", "layers"):
        node = base
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if node is not None:
            key = "n_layers" if hasattr(model.config, "n_layers") else "num_hidden_layers"
            return node, key
    raise UsageError(f"cannot find the transformer layers of {type(model).__name__} to prune")


def spread(total: int, keep: int) -> list[int]:
    """`keep` layer indices spread evenly over `total`, always keeping the last one: 6 -> 3 keeps 1, 3, 5."""
    if not 1 <= keep < total:
        raise UsageError(f"keep between 1 and {total - 1} of the model's {total} layers, not {keep}")
    step = total / keep
    return sorted({min(total - 1, round(total - 1 - i * step)) for i in range(keep)})


def drop_layers(model: Any, keep: list[int]) -> Any:
    """Keep only the layers in `keep` (in order); the config is updated so the model saves and reloads."""
    import torch

    layers, key = encoder_layers(model)
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    parent_path = {id(layers)}
    for module in model.modules():  # replace the ModuleList where it hangs
        for name, child in module.named_children():
            if id(child) in parent_path:
                setattr(module, name, kept)
    setattr(model.config, key, len(keep))
    for index, layer in enumerate(kept):  # attention modules that carry their index
        for sub in layer.modules():
            if hasattr(sub, "layer_idx"):
                sub.layer_idx = index
    return model


def write_pruned(run_dir: Path, keep: list[int] | int, out: Path, task: str) -> list[int]:
    """Load the run's fine-tuned model, drop layers, save it (safetensors) with its tokenizer to `out`."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

    auto = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    model = auto.from_pretrained(str(run_dir), use_safetensors=True)
    layers, _ = encoder_layers(model)
    indices = spread(len(layers), keep) if isinstance(keep, int) else sorted(set(keep))
    if not indices or indices[-1] >= len(layers) or indices[0] < 0:
        raise UsageError(f"layer indices must be within 0..{len(layers) - 1}")
    drop_layers(model, indices)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(run_dir)).save_pretrained(str(out))
    return indices
