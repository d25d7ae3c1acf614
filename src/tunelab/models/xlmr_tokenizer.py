"""Build an XLM-RoBERTa fast tokenizer (SentencePiece unigram, metaspace, <s> A </s></s> B </s>) from pieces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.errors import ArtifactError
from tunelab.models.charsmap import build_charsmap
from tunelab.models.e5file import E5Vocab

METASPACE = "\u2581"
SPECIALS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>"}
MASK = "<mask>"


def build_tokenizer(vocab: E5Vocab) -> Any:
    """A `tokenizers.Tokenizer`: the file's per-codepoint normalisation, runs of spaces collapsed, metaspace
    "▁" prepended and replacing spaces, Viterbi over the unigram pieces, <s> ... </s> around each text."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    _check_specials(vocab)
    model = models.Unigram(list(zip(vocab.pieces, vocab.scores)), unk_id=vocab.unk, byte_fallback=False)
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_charsmap(vocab.normalisation)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)])
    specials = [AddedToken(vocab.pieces[i], special=True, normalized=False)
                for i in (vocab.bos, vocab.pad, vocab.eos, vocab.unk)]
    if MASK in vocab.pieces:
        specials.append(AddedToken(MASK, special=True, lstrip=True, normalized=False))
    tokenizer.add_special_tokens(specials)
    return tokenizer


def save_tokenizer(vocab: E5Vocab, folder: Path, *, max_length: int) -> None:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json that AutoTokenizer loads."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    mask = AddedToken(MASK, special=True, lstrip=True, normalized=False)
    extra = {"mask_token": mask} if MASK in vocab.pieces else {}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(vocab), model_max_length=max_length,
        bos_token=SPECIALS["bos"], eos_token=SPECIALS["eos"], sep_token=SPECIALS["eos"], cls_token=SPECIALS["bos"],
        unk_token=SPECIALS["unk"], pad_token=SPECIALS["pad"], **extra)
    fast.save_pretrained(str(folder))


def _check_specials(vocab: E5Vocab) -> None:
    for role, piece in SPECIALS.items():
        index = getattr(vocab, role)
        if not 0 <= index < len(vocab.pieces) or vocab.pieces[index] != piece:
            raise ArtifactError(f"the tokenizer's {role} id {index} is not {piece!r}")
