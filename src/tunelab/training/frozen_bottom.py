"""The bottom of the encoder frozen, and its output cached after the first pass over the data.

Full fine-tuning spends most of a step in the encoder's layers, forward and backward. With the embeddings and the
bottom `k` layers frozen and kept in eval mode (no dropout), their output for an example never changes: the first
time an example is seen it runs through them as usual and the output of layer k is kept (one vector per real
token, in the dtype the layer produced); every later time the step starts at layer k+1 from that copy. Backward
stops at layer k+1 either way.

The saving is exact: a cached forward gives the upper layers the same inputs as the uncached one (padding positions
aside, which attention masks out), and the frozen layers, in eval mode, draw no random numbers, so the dropout in
the layers above sees the same random stream. A test trains twice, cache on and off, and compares the weights.

Works on encoders whose base model has `embeddings` and an `encoder.layer` (BERT, RoBERTa/XLM-R, MPNet, ELECTRA)
or `transformer.layer` (DistilBERT) list of layers; `find_stack` returns None for anything else and the caller
trains as usual.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stack:
    embeddings: Any
    layers: Any  # the encoder's nn.ModuleList of layers, bottom first


def find_stack(model: Any) -> Stack | None:
    """The embeddings module and the list of layers of a (possibly classification-headed) encoder."""
    base = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None)
    body = getattr(base, "encoder", None) or getattr(base, "transformer", None)
    layers = getattr(body, "layer", None)
    if embeddings is None or layers is None or not hasattr(layers, "__len__") or len(layers) == 0:
        return None
    return Stack(embeddings, layers)


def cache_bytes(lengths: Sequence[int], hidden: int) -> int:
    """What caching one vector per real token of every example costs at most (fp32)."""
    return int(sum(lengths)) * hidden * 4


class FrozenBottom:
    """Freezes the embeddings and the bottom `k` layers of `model`; with `cache`, serves their output from memory
    for examples already seen. Use `rows(ids)` around a training forward on those examples (in the padded batch's
    order); outside it (evaluation, prediction) the model runs as usual. `close()` restores the modules' methods
    (the weights stay frozen)."""

    def __init__(self, model: Any, k: int, *, cache: bool, cache_bytes: int = 0) -> None:
        stack = find_stack(model)
        if stack is None or not 0 < k < len(stack.layers):
            raise ValueError(f"cannot freeze {k} bottom layers of {type(model).__name__}")
        self.k, self.cache_enabled, self.cache_bytes = k, cache, cache_bytes
        self._stack = stack
        self._bottom = [stack.embeddings, *list(stack.layers)[:k]]
        self._cache: dict[int, Any] = {}
        self._rows: list[int] | None = None  # the examples of the forward in progress
        self._lengths: list[int] = []  # their real token counts
        self._replaying = False  # every one of them is cached: the bottom is skipped
        self._replay: Any = None  # their cached output, padded (built once per forward)
        self._tuple_output = False
        self.filled_tokens = 0  # real tokens that ran through the frozen layers during training
        self.replayed_tokens = 0  # real tokens served from the cache instead
        for module in self._bottom:
            module.requires_grad_(False)
            module.train = types.MethodType(_stay_in_eval, module)  # nn.Module.train recurses through this
            module.eval()
        self._patched = [(m, m.forward) for m in self._bottom]
        for i, (module, original) in enumerate(self._patched):
            module.forward = self._forward_for(i, original)

    def describe(self) -> str:
        size = f"{self.cache_bytes / 2**20:.0f} MB"
        return (f"embeddings and bottom {self.k} of {len(self._stack.layers)} layers frozen; "
                + (f"their output cached after the first pass (at most {size})" if self.cache_enabled else
                   f"their output not cached (it would take {size}: over --layer-cache-mb)"))

    def take_filled_tokens(self) -> int:
        """Real tokens run through the frozen layers in training since the last call."""
        n, self.filled_tokens = self.filled_tokens, 0
        return n

    @property
    def cached_examples(self) -> int:
        return len(self._cache)

    @contextlib.contextmanager
    def rows(self, ids: Sequence[int], lengths: Sequence[int]) -> Iterator[None]:
        """The next forward runs on these examples (`lengths`: their real token counts), padded in this order."""
        self._rows, self._lengths = list(ids), list(lengths)
        self._replay = None
        self._replaying = self.cache_enabled and all(i in self._cache for i in self._rows)
        try:
            yield
        finally:
            self._rows, self._replay, self._replaying = None, None, False

    def close(self) -> None:
        for module, original in self._patched:
            module.forward = original
            del module.train
        self._cache.clear()

    def _forward_for(self, position: int, original: Any) -> Any:
        last = position == len(self._bottom) - 1

        def forward(*args: Any, **kwargs: Any) -> Any:
            if self._rows is None or not self._replaying:
                out = original(*args, **kwargs)
                if last and self._rows is not None:
                    self._store(out)
                return out
            if position == 0:  # the embeddings: the layers below the cache are skipped, so any tensor will do
                return self._padded_replay()
            if not last:
                hidden = args[0] if args else kwargs["hidden_states"]
                return (hidden,) if self._tuple_output else hidden
            out = self._padded_replay()
            self.replayed_tokens += sum(self._lengths)
            return (out,) if self._tuple_output else out

        return forward

    def _store(self, out: Any) -> None:
        assert self._rows is not None
        self._tuple_output = isinstance(out, tuple)
        hidden = out[0] if self._tuple_output else out
        self.filled_tokens += sum(self._lengths)
        if not self.cache_enabled:
            return
        detached = hidden.detach()
        for r, (i, n) in enumerate(zip(self._rows, self._lengths)):
            if i not in self._cache:
                self._cache[i] = detached[r, :n].clone()

    def _padded_replay(self) -> Any:
        import torch

        if self._replay is None:
            assert self._rows is not None
            self._replay = torch.nn.utils.rnn.pad_sequence([self._cache[i] for i in self._rows], batch_first=True)
        return self._replay


def _stay_in_eval(self: Any, mode: bool = True) -> Any:
    import torch

    return torch.nn.Module.train(self, False)


__all__ = ["FrozenBottom", "Stack", "cache_bytes", "find_stack"]
