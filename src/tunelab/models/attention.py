"""The attention kernel per phase on a CPU: eager for training steps, and for every evaluation of the model in
training the kernel it loaded with (the one the Predictor serves, SDPA for the BERT family)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

# The loaded kernel is kept on the model object itself, not in a table keyed by it: PEFT's wrappers (LoRA, AdaLoRA)
# hand attribute reads and `set_attn_implementation` through to the model they wrap, so the wrapper the loop
# evaluates finds it too.
SERVED = "_tunelab_served_attention"


def kernel(model: Any) -> str | None:
    """The attention implementation `model` runs now (None for a model without the choice)."""
    value = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return value if isinstance(value, str) else None


def train_with_eager_attention(model: Any, device: str) -> None:
    """Train with eager attention on a CPU. Measured on a Xeon with AVX-512/bf16 (bf16 autocast, forward and
    backward, median of 5): eager took 0.91x SDPA's time for MiniLM at 32 x 32 tokens, 0.86x at 32 x 128, and
    0.93x for multilingual-e5-small at 16 x 128; at 8 x 488 tokens SDPA's peak memory was 4.85 GB against 3.1 GB
    (SDPA ran out of memory on a 24 GB machine at ChnSentiCorp's default 32 x 488). GPUs keep SDPA (flash kernels).

    Evaluations go back to the kernel the model loaded with (`served_attention`): the Predictor loads the saved
    model with it, so dev and test scores are the ones `tunelab evaluate` gives, and on CPU SDPA scored CoNLL-2003's
    dev split in 0.89x eager's time (3.25 s against 3.64 s, median of 3, bf16). Only the kernel changes, not the
    weights or the saved model. A model that cannot switch (transformers then only warns) keeps its own kernel
    for both."""
    if device != "cpu":
        return
    loaded = kernel(model)
    try:
        model.set_attn_implementation("eager")
    except (AttributeError, ValueError):
        return  # an architecture without the choice keeps its own
    if loaded is not None and loaded != "eager" and kernel(model) == "eager":
        setattr(model, SERVED, loaded)


@contextlib.contextmanager
def served_attention(model: Any) -> Iterator[None]:
    """Inside: the model runs the kernel it loaded with, if it trains with another one; the kernel it ran on entry
    is restored after, also when the body raises."""
    served = getattr(model, SERVED, None)
    before = kernel(model) if served is not None else None
    if before is None or before == served:  # not trained with another kernel, or already on its own
        yield
        return
    model.set_attn_implementation(served)
    try:
        yield
    finally:
        model.set_attn_implementation(before)
