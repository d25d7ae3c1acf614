"""The case of each word, for a model that labels words through a tokenizer that lowercases.

An uncased tokenizer (all-MiniLM-L6-v2's, all-mpnet-base-v2's, any uncased BERT's) gives "Paris", "PARIS" and
"paris" the same ids, so a named-entity model built on it never sees the capital letters that mark most names.
The case feature gives each word piece its word's case class (lower or no letters, Title, UPPER, MiXed) through
the encoder's token-type embedding: that table, one row per segment in pretraining and a constant row in
single-text tasks, gets one new row per case class, each a copy of the segment-A row, so the model starts as the
pretrained one and fine-tuning learns what each case adds. Measured on CoNLL-2003 (MiniLM, seeds 42 / 1; the
numbers are in training/defaults.py).

How the class travels: packed into the token id, `id + id_base * class` (`id_base`: the tokenizer's size), so
every path that hands ids to the model (training, evaluation, the Predictor, ONNX, serving) carries it unchanged.
A forward pre-hook on the embeddings unpacks it into `input_ids` and `token_type_ids`, and it is part of a traced
ONNX graph. The run records `case_id_base` in config.json's "tunelab" settings: `load_pretrained` puts the hook
back and `load_tokenizer` marks the tokenizer, so the task's encoder packs again. Plain transformers loads such a
folder; given each piece's case class as `token_type_ids` (the model card's snippet) it tags as TuneLab does, and
without them every word reads as lower case."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOWER, SEGMENT_B, TITLE, UPPER, MIXED = 0, 1, 2, 3, 4  # rows of the token-type table; 1 is pretraining's second
CASE_ROWS = 5  # segment, left as it was
SETTING = "case_id_base"  # config.json["tunelab"][SETTING]
_MARK = "_tunelab_case_id_base"  # the attribute a marked tokenizer (and the embeddings module) carries


def word_case(word: str) -> int:
    """LOWER (no capital letter, or no letter), TITLE (a capital first letter, the rest lower; a single capital),
    UPPER (two or more letters, all capitals) or MIXED (any other mix: "iPhone", "McDonald")."""
    letters = [c for c in word if c.isalpha()]
    if not any(c.isupper() for c in letters):
        return LOWER
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return UPPER
    if letters[0].isupper() and not any(c.isupper() for c in letters[1:]):
        return TITLE
    return MIXED


def lowercases(tokenizer: Any) -> bool:
    """Whether the tokenizer gives a capitalised text the same ids as its lower-case form."""
    probe = "Paris NASA Word"
    return bool(tokenizer(probe, add_special_tokens=False)["input_ids"]
                == tokenizer(probe.lower(), add_special_tokens=False)["input_ids"])


def has_type_embeddings(model_config: dict[str, Any]) -> bool:
    """Whether an encoder's config.json describes a token-type table (BERT, RoBERTa, ELECTRA; not MPNet or
    DistilBERT)."""
    return int(model_config.get("type_vocab_size") or 0) >= 1


def case_id_base(tokenizer: Any) -> int | None:
    """The id base a marked tokenizer's ids are packed with (None: not marked, plain ids)."""
    return getattr(tokenizer, _MARK, None)


def mark_tokenizer(tokenizer: Any, id_base: int | None = None) -> int:
    """Make the task encoders pack each word piece's case class into its id; returns the id base (the one given,
    else the one the tokenizer already packs with, else the tokenizer's size)."""
    base = int(id_base or case_id_base(tokenizer) or len(tokenizer))
    setattr(tokenizer, _MARK, base)
    return base


def recorded_case_id_base(folder: Path) -> int | None:
    """The id base `folder`'s config.json records (a model trained with the case feature), else None."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _recorded(config.get("tunelab") if isinstance(config, dict) else None)


def _recorded(settings: Any) -> int | None:
    """The id base in config.json's "tunelab" settings (a file's or a loaded config's), else None."""
    base = settings.get(SETTING) if isinstance(settings, dict) else None
    return base if isinstance(base, int) and not isinstance(base, bool) and base > 0 else None


def mark_recorded_case(tokenizer: Any, folder: Path) -> Any:
    """`tokenizer`, marked when `folder`'s config.json records the case feature (a run trained with it)."""
    base = recorded_case_id_base(folder)
    if base is not None:
        mark_tokenizer(tokenizer, base)
    return tokenizer


def pack(input_ids: Sequence[int], word_ids: Sequence[int | None], words: Sequence[str], id_base: int) -> list[int]:
    """Each piece's id plus `id_base` times its word's case class (special tokens stay as they are)."""
    return [i if w is None else i + id_base * word_case(words[w]) for i, w in zip(input_ids, word_ids)]


def unpack(input_ids: Sequence[int], tokenizer: Any) -> list[int]:
    """The tokenizer's own ids from (possibly) packed ones."""
    base = case_id_base(tokenizer)
    return list(input_ids) if base is None else [i % base for i in input_ids]


def with_case_of(new_id: int, packed_id: int, tokenizer: Any) -> int:
    """`new_id` packed with the case class `packed_id` carries (an explanation's baseline keeps each word's case
    and replaces the word)."""
    base = case_id_base(tokenizer)
    return new_id if base is None else new_id + (packed_id // base) * base


def add_case_rows(model: Any, id_base: int, *, fresh: bool = False) -> None:
    """Grow `model`'s token-type table to CASE_ROWS (new rows copy row 0) and unpack packed ids before its
    embeddings; idempotent (a model loaded with the feature keeps its trained rows). `fresh`: the model has not
    read the case before, so a table that is already CASE_ROWS long gets its case rows reset to row 0 too (its
    pretrained rows past the second segment's, never used for one text, would otherwise start as case rows)."""
    import torch

    embeddings = _embeddings(model)
    table = embeddings.token_type_embeddings
    if fresh and table.num_embeddings >= CASE_ROWS:
        with torch.no_grad():
            table.weight[TITLE:CASE_ROWS] = table.weight[0]
    if table.num_embeddings < CASE_ROWS:
        grown = torch.nn.Embedding(CASE_ROWS, table.embedding_dim, device=table.weight.device,
                                   dtype=table.weight.dtype)
        with torch.no_grad():
            grown.weight[:] = table.weight[0]
            grown.weight[: table.num_embeddings] = table.weight
        embeddings.token_type_embeddings = grown
        model.config.type_vocab_size = CASE_ROWS
    if getattr(embeddings, _MARK, None) is None:
        embeddings.register_forward_pre_hook(_unpack, with_kwargs=True)
    setattr(embeddings, _MARK, int(id_base))


def model_case_id_base(model: Any) -> int | None:
    """The id base `model` unpacks (None: it has no case feature); an adapter-wrapped model is looked into."""
    model = model.get_base_model() if hasattr(model, "get_base_model") else model
    base = getattr(model, "base_model", model)
    return getattr(getattr(base, "embeddings", None), _MARK, None)


def apply_recorded_case(model: Any, config: Any) -> Any:
    """`model` with the case feature its config.json's "tunelab" settings record (after loading it)."""
    base = _recorded(getattr(config, "tunelab", None))
    if base is not None:
        add_case_rows(model, base)
    return model


def _embeddings(model: Any) -> Any:
    from tunelab.errors import UsageError

    base = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None)
    if getattr(embeddings, "token_type_embeddings", None) is None:
        raise UsageError(f"{type(model).__name__} has no token-type embedding to carry the words' case",
                         hint="train with --case-feature never")
    return embeddings


def _unpack(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Packed ids -> (ids, case classes as token types); BERT-family embeddings take (input_ids, token_type_ids, ...)
    positionally too."""
    import torch

    ids = args[0] if args else kwargs.get("input_ids")
    if ids is None:
        return args, kwargs
    base = getattr(module, _MARK)
    plain, case = torch.remainder(ids, base), torch.div(ids, base, rounding_mode="floor")
    if args:
        return (plain, case, *args[2:]), {k: v for k, v in kwargs.items() if k != "token_type_ids"}
    return args, {**kwargs, "input_ids": plain, "token_type_ids": case}


__all__ = ["CASE_ROWS", "LOWER", "MIXED", "SETTING", "TITLE", "UPPER", "add_case_rows", "apply_recorded_case",
           "case_id_base", "has_type_embeddings", "lowercases", "mark_recorded_case", "mark_tokenizer",
           "model_case_id_base", "recorded_case_id_base", "pack", "unpack", "with_case_of", "word_case"]
