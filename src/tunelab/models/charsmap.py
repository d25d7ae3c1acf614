"""Build a SentencePiece "precompiled charsmap" (a darts double-array trie + replacement strings) from a
codepoint -> replacement map, the form `tokenizers.normalizers.Precompiled` reads.

The blob is: u32 trie size in bytes, the trie as u32 units, then the NUL-terminated replacements. A unit
holds a label byte (bits 0-7), a has-leaf flag (bit 8), and the XOR offset to its children (bits 10-30); a
leaf unit holds the replacement's byte offset with bit 31 set. Walking key byte c from a node at `pos`
whose children start at `base = pos ^ offset`: the child sits at `base ^ c` and carries label c; a node
with a value keeps its leaf unit at `base ^ 0`. No two nodes share a base, so a byte that is not a child
never lands on another node's child with the same label.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HAS_LEAF = 1 << 8
IS_LEAF = 1 << 31
MAX_OFFSET = 1 << 21


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    value: int | None = None


def build_charsmap(mapping: dict[int, str]) -> bytes:
    """The precompiled charsmap that replaces each codepoint in `mapping` by its string ("" deletes it)."""
    root, blob = _Node(), bytearray()
    for codepoint in sorted(mapping):
        node = root
        for byte in chr(codepoint).encode("utf-8"):
            node = node.children.setdefault(byte, _Node())
        node.value = len(blob)
        blob += mapping[codepoint].encode("utf-8") + b"\0"
    units = _DoubleArray()
    units.place(root, 0)
    units.pad_to_block()
    trie = struct.pack(f"<{len(units.units)}I", *units.units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


class _DoubleArray:
    """Lays a byte trie out as a double array, each node's children in the first free XOR block."""

    def __init__(self) -> None:
        self.units: list[int] = [0]
        self.used: list[bool] = [True]  # unit 0 is the root
        self.first_free = 1
        self.bases: set[int] = set()  # one node per base, or a walk could reach another node's child

    def place(self, node: _Node, pos: int) -> None:
        labels = sorted(node.children) + ([0] if node.value is not None else [])
        if not labels:
            return
        base = self._find_base(labels)
        offset = pos ^ base
        if offset >= MAX_OFFSET:
            raise ValueError(f"double-array offset {offset} does not fit in 21 bits")
        self.units[pos] |= offset << 10
        for label in labels:
            self._use(base ^ label)
        if node.value is not None:
            self.units[base] = node.value | IS_LEAF
        for label, child in node.children.items():
            self.units[base ^ label] = label | (HAS_LEAF if child.value is not None else 0)
        for label, child in sorted(node.children.items()):
            self.place(child, base ^ label)

    def pad_to_block(self) -> None:
        """Fill the last 256-unit block: a reader looks at `base ^ byte` for any byte, inside base's block."""
        missing = -len(self.units) % 256
        self.units += [0] * missing
        self.used += [False] * missing

    def _find_base(self, labels: list[int]) -> int:
        slot = self.first_free
        while True:
            base = slot ^ labels[0]
            if base not in self.bases and all(not self._is_used(base ^ label) for label in labels):
                self.bases.add(base)
                return base
            slot += 1
            while self._is_used(slot):
                slot += 1

    def _is_used(self, index: int) -> bool:
        return index < len(self.used) and self.used[index]

    def _use(self, index: int) -> None:
        if index >= len(self.used):
            grow = index + 1 - len(self.used)
            self.used += [False] * grow
            self.units += [0] * grow
        self.used[index] = True
        while self._is_used(self.first_free):
            self.first_free += 1
