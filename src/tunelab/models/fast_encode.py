"""Texts to token ids through the Rust `tokenizers.Tokenizer` behind a fast Hugging Face tokenizer, skipping the
Python layer of `tokenizer(texts, truncation=True, max_length=n)` (its argument checks, padding and truncation
set-up, BatchEncoding) that cost more than the Rust encoding itself for one short text. Same ids: the copy is
configured as that call configures the tokenizer (truncation longest-first on the tokenizer's side, no padding,
special tokens); a tokenizer without a Rust backend goes through the call."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

_COPIES: weakref.WeakKeyDictionary[Any, dict[int, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def encode_ids(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text with special tokens, truncated to `max_length`, as the tokenizer's own call gives."""
    rust = _rust_copy(tokenizer, max_length)
    if rust is None:
        return list(tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"])
    return [e.ids for e in rust.encode_batch(list(texts))]


def _rust_copy(tokenizer: Any, max_length: int) -> Any:
    """A private copy of the Rust tokenizer set up for `max_length` (the original's settings are not touched:
    the HF call reconfigures it on every call), made once per tokenizer and length."""
    if not getattr(tokenizer, "is_fast", False) or getattr(tokenizer, "backend_tokenizer", None) is None:
        return None
    with _LOCK:
        try:
            per_length = _COPIES.setdefault(tokenizer, {})
        except TypeError:  # not weak-referenceable
            return None
        copy = per_length.get(max_length)
        if copy is None:
            from tokenizers import Tokenizer

            copy = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
            copy.no_padding()
            copy.enable_truncation(max_length, stride=0, strategy="longest_first",
                                   direction=getattr(tokenizer, "truncation_side", "right"))
            per_length[max_length] = copy
        return copy
