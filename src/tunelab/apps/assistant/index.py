"""Sentence embeddings (mean-pooled, L2-normalised encoder states) and the FAQ retrieval index over them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.artifacts.files import read_json, write_bytes_atomic, write_json_atomic
from tunelab.errors import ArtifactError
from tunelab.models.multilingual import Prefixes, Role, model_prefixes

QUESTION_ROLE: Role = "query"  # a customer's question is the query
ENTRY_ROLE: Role = "passage"  # the FAQ entries (their phrasings) are what it is matched against


class SentenceEncoder:
    """A plain encoder (no task head) that turns texts into unit vectors; loads safetensors only.

    `prefixes`: what the model expects before queries and passages (e5: "query: ", "passage: "), read from the
    folder's config.json when it declares them (`models.multilingual.model_prefixes`); None adds nothing."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 128, prefixes: Prefixes | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.prefixes = prefixes

    @classmethod
    def load(cls, folder: str | Path, max_length: int = 128) -> SentenceEncoder:
        from transformers import AutoModel

        from tunelab.models.build import load_tokenizer, quiet_transformers
        from tunelab.models.resolve import force_offline

        force_offline()
        quiet_transformers()
        try:
            model = AutoModel.from_pretrained(str(folder), use_safetensors=True)
        except OSError as exc:
            raise ArtifactError(f"cannot load the sentence encoder in {folder} (safetensors only): {exc}") from None
        model.eval()
        return cls(model, load_tokenizer(Path(folder)), max_length, model_prefixes(Path(folder)))

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(str(folder), safe_serialization=True)
        self.tokenizer.save_pretrained(str(folder))

    def prefixed(self, texts: Sequence[str], role: Role) -> list[str]:
        """`texts` with the prefix the model declares for `role` (none when it declares none)."""
        prefix = self.prefixes.for_role(role) if self.prefixes else ""
        return [prefix + t for t in texts]

    def embed(self, texts: Sequence[str], role: Role, batch_size: int = 64) -> np.ndarray:
        """One L2-normalised row per text (float32), in order; `role` ("query" or "passage") picks the prefix
        the model declares for such texts."""
        import torch

        texts = self.prefixed(texts, role)
        width = int(self.model.config.hidden_size)
        if not texts:
            return np.zeros((0, width), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), width), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[rows] = pooled.numpy()
        return out


@dataclass(frozen=True)
class FaqIndex:
    """One row per FAQ phrasing; `entry_of_row[r]` is the entry that row belongs to."""

    vectors: np.ndarray  # (rows, dim), unit length
    entry_of_row: np.ndarray  # (rows,) int
    entry_ids: tuple[str, ...]
    questions: tuple[str, ...]  # the phrasing of each row (the evidence shown with an answer)

    @classmethod
    def build(cls, encoder: SentenceEncoder, entries: Sequence[tuple[str, Sequence[str]]]) -> FaqIndex:
        """The FAQ's phrasings embedded as the passages a question is matched against (`ENTRY_ROLE`)."""
        ids = tuple(e for e, _ in entries)
        questions = [q for _, qs in entries for q in qs]
        rows = np.array([i for i, (_, qs) in enumerate(entries) for _ in qs], dtype=np.int64)
        return cls(encoder.embed(questions, ENTRY_ROLE), rows, ids, tuple(questions))

    def entry_scores(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query and entry: the best cosine similarity over the entry's phrasings, and which row gave it."""
        n_entries = len(self.entry_ids)
        scores = np.full((len(queries), n_entries), -1.0, dtype=np.float32)
        best_row = np.zeros((len(queries), n_entries), dtype=np.int64)
        if n_entries == 0 or len(queries) == 0:
            return scores, best_row
        sims = queries @ self.vectors.T
        for entry in range(n_entries):
            rows = np.flatnonzero(self.entry_of_row == entry)
            if rows.size == 0:
                continue
            pick = sims[:, rows].argmax(axis=1)
            scores[:, entry] = sims[np.arange(len(queries)), rows[pick]]
            best_row[:, entry] = rows[pick]
        return scores, best_row

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save

        write_bytes_atomic(folder / "faq_index.safetensors",
                           save({"vectors": self.vectors, "entry_of_row": self.entry_of_row}))
        write_json_atomic(folder / "faq_index.json", {"entry_ids": list(self.entry_ids),
                                                      "questions": list(self.questions)})

    @classmethod
    def load(cls, folder: Path) -> FaqIndex:
        from safetensors.numpy import load_file

        tensors = load_file(str(folder / "faq_index.safetensors"))
        meta = read_json(folder / "faq_index.json")
        return cls(tensors["vectors"], tensors["entry_of_row"], tuple(meta["entry_ids"]), tuple(meta["questions"]))
