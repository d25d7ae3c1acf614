"""Structured pruning: drop whole transformer layers from a fine-tuned encoder (the recovery fine-tune and
the accuracy gate are in `recipes/prune.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.errors import UsageError
from tunelab.models.heads import encoder_layers


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


def write_cut_encoder(source: Path, layers: int, out: Path) -> list[int]:
    """A pre-trained (or fine-tuned) encoder folder cut to `layers` layers (spread evenly), saved with its
    tokenizer to `out`: a smaller student to distil into or fine-tune."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(source), use_safetensors=True)
    indices = spread(len(encoder_layers(model)[0]), layers)
    drop_layers(model, indices)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(out))
    return indices


def write_pruned(run_dir: Path, keep: list[int] | int, out: Path, task: str) -> list[int]:
    """Load the run's fine-tuned model, drop layers, save it (safetensors) with its tokenizer to `out`."""
    from transformers import AutoTokenizer

    from tunelab.models.heads import load_pretrained
    from tunelab.tasks import auto_model_class

    model = load_pretrained(auto_model_class(task), run_dir)  # the run's recorded pooling (few-shot) comes along
    layers, _ = encoder_layers(model)
    indices = spread(len(layers), keep) if isinstance(keep, int) else sorted(set(keep))
    if not indices or indices[-1] >= len(layers) or indices[0] < 0:
        raise UsageError(f"layer indices must be within 0..{len(layers) - 1}")
    drop_layers(model, indices)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(run_dir)).save_pretrained(str(out))
    return indices


def head_importance(model: Any, task: Any, encoded: list[Any], pad_id: int, batch_size: int = 16) -> Any:
    """Michel et al. (2019): |dL/d gate| per head, a gate multiplying each head's output, summed over
    batches, then L2-normalised within each layer. Returns a (layers, heads) numpy array."""
    import numpy as np
    import torch

    from tunelab.models.heads import head_slots
    from tunelab.tasks.base import collate

    slots = head_slots(model)
    gates = [torch.ones(slot.heads, requires_grad=True) for slot in slots]
    hooks = [getattr(slot.output, slot.output_name).register_forward_pre_hook(_gate_hook(gate, slot.head_size))
             for slot, gate in zip(slots, gates)]
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    for param, _ in frozen:
        param.requires_grad_(False)  # only the gates need gradients
    total = [torch.zeros(slot.heads) for slot in slots]
    was_training = model.training
    model.eval()
    try:
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            batch = collate(task, [encoded[i] for i in order[start:start + batch_size]], pad_id)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            task.loss(logits, batch["targets"]).backward()
            for acc, gate in zip(total, gates):
                acc += gate.grad.abs()
                gate.grad = None
    finally:
        for hook in hooks:
            hook.remove()
        for param, flag in frozen:
            param.requires_grad_(flag)
        model.train(was_training)
    scores = [(t / t.norm().clamp_min(1e-12)).numpy() for t in total]
    width = max(len(s) for s in scores)
    return np.stack([np.pad(s, (0, width - len(s)), constant_values=np.inf) for s in scores])


def _gate_hook(gate: Any, head_size: int) -> Any:
    def hook(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        shape = x.shape
        gated = (x.view(*shape[:-1], -1, head_size) * gate.view(-1, 1)).view(shape)
        return (gated, *args[1:])

    return hook


def choose_heads(importance: Any, count: int) -> dict[int, list[int]]:
    """The `count` least important heads (positions per layer), never a layer's last remaining head."""
    import numpy as np

    alive = np.isfinite(importance).sum(axis=1)
    if not 1 <= count <= int(alive.sum() - len(alive)):
        raise UsageError(f"remove between 1 and {int(alive.sum() - len(alive))} heads (one per layer stays), "
                         f"not {count}")
    chosen: dict[int, list[int]] = {}
    for flat in np.argsort(importance, axis=None, kind="stable"):
        layer, head = divmod(int(flat), importance.shape[1])
        if len(chosen.get(layer, [])) + 1 < alive[layer]:
            chosen.setdefault(layer, []).append(head)
            count -= 1
        if count == 0:
            break
    return {layer: sorted(heads) for layer, heads in sorted(chosen.items())}


def check_heads(heads: float) -> None:
    if heads <= 0 or (heads >= 1 and heads != int(heads)):
        raise UsageError(f"--heads takes a count (e.g. 12) or a fraction below 1 (e.g. 0.25), not {heads}")


def write_head_pruned(run_dir: Path, heads: float, out: Path, task: Any, encoded: list[Any],
                      pad_id: int) -> dict[str, Any]:
    """Load the run's model, rank heads on `encoded`, remove `heads` of them (a count, or a fraction when
    below 1) for real, save (safetensors; config.pruned_heads records them) with the tokenizer to `out`."""
    from transformers import AutoTokenizer

    from tunelab.models.heads import load_pretrained, prune_more
    from tunelab.tasks import auto_model_class

    check_heads(heads)
    model = load_pretrained(auto_model_class(task.name), run_dir)
    importance = head_importance(model, task, encoded, pad_id)
    alive = int((importance != float("inf")).sum())
    count = round(heads * alive) if heads < 1 else int(heads)
    drop = choose_heads(importance, count)
    recorded = prune_more(model, drop)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(run_dir)).save_pretrained(str(out))
    return {"removed": count, "heads_before": alive, "pruned_heads": recorded,
            "importance": [[round(float(x), 4) for x in row if x != float("inf")] for row in importance]}
