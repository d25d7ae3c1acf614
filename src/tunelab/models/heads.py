"""Attention heads removed for real (smaller query/key/value and output matrices), recorded in the config as
`pruned_heads` ({layer: [original head indices]}), and a loader that rebuilds those shapes before loading.

transformers 4.x re-applied `config.pruned_heads` inside `from_pretrained`; 5.x dropped head pruning, so
`load_pretrained` shrinks the layers itself and then loads the safetensors weights (strictly, by name)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.errors import ArtifactError, UsageError


@dataclass(frozen=True)
class HeadSlot:
    """One layer's self-attention: its projections, the output projection, and the head size."""

    attention: Any  # the module holding query/key/value and num_attention_heads
    output: Any  # the parent of the output projection
    output_name: str
    head_size: int

    @property
    def heads(self) -> int:
        return int(self.attention.query.out_features // self.head_size)


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


def head_slots(model: Any) -> list[HeadSlot]:
    """Self-attention per layer of a BERT-family encoder (BERT, RoBERTa, MiniLM, ELECTRA...)."""
    layers, _ = encoder_layers(model)
    slots = []
    for layer in layers:
        attention = getattr(getattr(layer, "attention", None), "self", None)
        output = getattr(getattr(layer, "attention", None), "output", None)
        if attention is None or output is None or not hasattr(attention, "query") or not hasattr(output, "dense"):
            raise UsageError(f"head pruning supports BERT-family encoders; {type(model).__name__} has another "
                             "attention layout", hint="prune layers instead (--layers N)")
        slots.append(HeadSlot(attention, output, "dense", int(attention.attention_head_size)))
    return slots


def remove_heads(slot: HeadSlot, positions: list[int]) -> None:
    """Drop the heads at `positions` (0-based among the layer's current heads) from the weight matrices."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    current = slot.heads
    kept = [h for h in range(current) if h not in set(positions)]
    if not kept:
        raise UsageError("cannot remove every head of a layer; keep at least one")
    index = torch.cat([torch.arange(h * slot.head_size, (h + 1) * slot.head_size) for h in kept])
    attention = slot.attention
    for name in ("query", "key", "value"):
        setattr(attention, name, prune_linear_layer(getattr(attention, name), index, dim=0))
    setattr(slot.output, slot.output_name, prune_linear_layer(getattr(slot.output, slot.output_name), index, dim=1))
    attention.num_attention_heads = len(kept)
    attention.all_head_size = len(kept) * slot.head_size


def pruned_heads(config: Any) -> dict[int, list[int]]:
    raw = getattr(config, "pruned_heads", None) or {}
    return {int(layer): sorted(int(h) for h in heads) for layer, heads in raw.items() if heads}


def apply_pruned_heads(model: Any, pruned: dict[int, list[int]]) -> None:
    """Shrink a freshly built (full-size) model to the recorded pruned heads."""
    slots = head_slots(model)
    for layer, heads in pruned.items():
        remove_heads(slots[layer], heads)


def prune_more(model: Any, drop: dict[int, list[int]]) -> dict[int, list[int]]:
    """Remove heads given by their current positions; returns and records the original indices removed."""
    before = pruned_heads(model.config)
    slots = head_slots(model)
    total = int(model.config.num_attention_heads)
    after = {layer: list(heads) for layer, heads in before.items()}
    for layer, positions in drop.items():
        remaining = [h for h in range(total) if h not in set(before.get(layer, []))]
        after[layer] = sorted(set(after.get(layer, [])) | {remaining[p] for p in positions})
        remove_heads(slots[layer], positions)
    model.config.pruned_heads = {str(k): v for k, v in sorted(after.items()) if v}
    return {k: v for k, v in after.items() if v}


def load_pretrained(auto_class: Any, path: Path, config: Any = None) -> Any:
    """`auto_class.from_pretrained(path)` (safetensors only), also for models with pruned heads, with the pooling
    its config records (a few-shot run's mean pooling, see models/pooling.py) and the words' case feature
    (models/casing.py)."""
    from transformers import AutoConfig

    from tunelab.models.casing import apply_recorded_case
    from tunelab.models.pooling import apply_recorded_pooling

    config = config if config is not None else AutoConfig.from_pretrained(str(path))
    return apply_recorded_case(apply_recorded_pooling(_load_weights(auto_class, path, config), config), config)


def _load_weights(auto_class: Any, path: Path, config: Any) -> Any:
    pruned = pruned_heads(config)
    if not pruned:
        return auto_class.from_pretrained(str(path), config=config, use_safetensors=True)
    from safetensors.torch import load_file

    weights = Path(path) / "model.safetensors"
    if not weights.is_file():
        raise ArtifactError(f"{path} has no model.safetensors (TuneLab loads safetensors only)")
    model = auto_class.from_config(config)
    apply_pruned_heads(model, pruned)
    state = load_file(str(weights))
    prefix = f"{model.base_model_prefix}."
    names = set(model.state_dict())
    if not any(k in names for k in state):  # an encoder saved on its own: its keys lack the prefix
        state = {prefix + k: v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    encoder_missing = [k for k in missing if k.startswith(prefix)]
    if encoder_missing or unexpected:
        raise ArtifactError(f"{weights} does not match its head-pruned config: missing {encoder_missing[:3]}, "
                            f"unexpected {list(unexpected)[:3]}")
    return model.eval()
