"""Model FLOPs utilisation: the useful training FLOP/s achieved over the machine's measured matmul peak.

Useful FLOPs per real (non-padding) token, with N the encoder's non-embedding parameters:
full fine-tuning 6N (forward 2N, backward 4N), LoRA/AdaLoRA 4N (activation gradients flow through
frozen weights, no weight gradients), probe 2N (forward only below the head). Attention's own matmuls
add 12 * layers * hidden * length per token. Frozen bottom layers (training/frozen_bottom.py) count only when they
ran (a forward, 2N of their weights, per token that went through them), not when their output came from the cache.
The peak is timed here, on this machine, with a square
matmul in the dtype training used (bf16 where native, else fp32).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

FLOPS_PER_PARAM = {"full": 6, "lora": 4, "adalora": 4, "probe": 2}


def non_embedding_params(model: Any) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)


def training_flops(model: Any, method: str, tokens: int, mean_length: float, frozen_layers: int = 0,
                   frozen_tokens_run: int = 0) -> float:
    config = getattr(model, "config", None)
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    factor = FLOPS_PER_PARAM.get(method, 6)
    frozen = _bottom_params(model, frozen_layers)
    trained_layers = max(0, layers - frozen_layers)
    attention = 12 * hidden * mean_length / 6  # per layer, per token, per unit of the factor
    upper = float(tokens) * (factor * (non_embedding_params(model) - frozen) + factor * attention * trained_layers)
    bottom = float(frozen_tokens_run) * (2 * frozen + 2 * attention * frozen_layers)
    return upper + bottom


def _bottom_params(model: Any, k: int) -> int:
    from tunelab.training.frozen_bottom import find_stack

    stack = find_stack(model) if k > 0 else None
    return sum(p.numel() for layer in list(stack.layers)[:k] for p in layer.parameters()) if stack else 0


@lru_cache(maxsize=4)
def matmul_peak(dtype: str = "fp32", size: int = 1024, seconds: float = 0.5) -> float:
    """Measured FLOP/s of a `size`-square matmul in `dtype` on the current torch threads."""
    import torch

    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    a = torch.randn(size, size, dtype=torch_dtype)
    b = torch.randn(size, size, dtype=torch_dtype)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2.0 * size**3 * count / (time.perf_counter() - start)


def utilisation(model: Any, method: str, tokens: int, samples: int, seconds: float, dtype: str,
                frozen_layers: int = 0, frozen_tokens_run: int = 0) -> dict[str, Any]:
    """Achieved model FLOP/s, the measured peak and their ratio, for a run's metrics."""
    if seconds <= 0 or tokens <= 0:
        return {}
    flops = training_flops(model, method, tokens, tokens / max(samples, 1), frozen_layers, frozen_tokens_run)
    achieved = flops / seconds
    peak = matmul_peak(dtype)
    return {"model_gflops_per_second": round(achieved / 1e9, 2), "matmul_peak_gflops_per_second": round(peak / 1e9, 2),
            "peak_dtype": dtype, "mfu": round(achieved / peak, 4)}
