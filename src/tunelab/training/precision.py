"""Device, threads and mixed precision: bf16 autocast where the hardware runs bf16 natively, fp32 elsewhere."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tunelab.config import PRECISIONS
from tunelab.errors import UsageError


@dataclass(frozen=True)
class Precision:
    """Where and how the model runs."""

    device: str  # "cpu" or "cuda"
    dtype: str  # "fp32" or "bf16" (autocast)

    def autocast(self) -> Any:
        import torch

        if self.dtype == "bf16":
            return torch.autocast(device_type=self.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def choose_precision(requested: str, *, device: str | None = None, flag: str = "--precision") -> Precision:
    """`requested` (auto | fp32 | bf16) on `device` (default: cuda when there is one, else cpu); bf16 only where
    the hardware runs it natively (`flag` names the option in the error when it does not)."""
    import torch

    if requested not in PRECISIONS:
        raise UsageError(f"{flag} must be one of {', '.join(PRECISIONS)}, not {requested!r}",
                         hint="auto runs bf16 where the hardware has it natively, fp32 elsewhere")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    native = torch.cuda.is_bf16_supported(including_emulation=False) if device == "cuda" else cpu_has_bf16()
    if requested == "bf16" and not native:
        raise UsageError(f"precision bf16 was asked for but this {device} has no native bf16",
                         hint=f"use {flag} auto or fp32")
    use_bf16 = requested == "bf16" or (requested == "auto" and native)
    return Precision(device, "bf16" if use_bf16 else "fp32")


def set_threads(threads: int | None) -> int:
    """Use every core by default (PyTorch may pick fewer inside containers)."""
    import torch

    count = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(count)
    return count
