"""A tiny random-weight BERT saved as a normal model folder, so tests exercise the real loading path."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tiny_bert(folder: Path, texts: Iterable[str] = (), *, hidden: int = 32, layers: int = 2,
                    heads: int = 2, seed: int = 0) -> Path:
    """Write a 2-layer BERT (random weights) with a word-level vocabulary covering `texts`."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    from tunelab.models.build import quiet_transformers

    quiet_transformers()

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = SPECIALS + sorted(set(words) | set(letters)) + [f"##{c}" for c in letters]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden * 2,
                        max_position_embeddings=128, hidden_dropout_prob=0.1,
                        attention_probs_dropout_prob=0.1)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_xlmr(folder: Path, texts: Iterable[str] = (), *, hidden: int = 32, layers: int = 2,
                    heads: int = 2, seed: int = 0, prefixes: tuple[str, str] | None = None) -> Path:
    """Write a 2-layer BERT (random weights) with an XLM-R-like SentencePiece unigram tokenizer, as the converted
    multilingual model has: "▁" marks word starts, every character of `texts` is a piece of its own (so a CJK
    character given as a word becomes "▁" + the character), and "▁word" pieces for their space-separated
    words. `prefixes` (query, passage): declared in config.json the way the multilingual folder declares e5's."""
    import json

    import torch
    from transformers import BertConfig, BertModel

    from tunelab.models.build import quiet_transformers
    from tunelab.models.e5file import E5Vocab
    from tunelab.models.xlmr_tokenizer import MASK, METASPACE, save_tokenizer

    quiet_transformers()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    texts = list(texts)
    chars = sorted({c for t in texts for c in t if not c.isspace()} | set("abcdefghijklmnopqrstuvwxyz0123456789"))
    words = sorted({METASPACE + w for t in texts for w in t.split() if len(w) > 1})
    pieces = ("<s>", "<pad>", "</s>", "<unk>", METASPACE, *chars, *words, MASK)
    scores = (0.0, 0.0, 0.0, 0.0, -2.0, *(-5.0 for _ in chars), *(-3.0 for _ in words), 0.0)
    save_tokenizer(E5Vocab(pieces, scores, bos=0, eos=2, pad=1, unk=3, normalisation={}), folder, max_length=128)
    config = BertConfig(vocab_size=len(pieces), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=130,
                        pad_token_id=1, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    if prefixes is not None:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        raw["tunelab"] = {"prefixes": {"query": prefixes[0], "passage": prefixes[1]}}
        (folder / "config.json").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return folder
