"""The saved state of a build besides the encoder: catalogue, interactions, item signals; safetensors + JSON only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunelab.apps.recommender.blend import Blender
from tunelab.apps.recommender.dataset import Catalogue
from tunelab.artifacts.files import read_json, write_bytes_atomic, write_json_atomic
from tunelab.errors import ArtifactError

SCHEMA = 1


@dataclass
class BuildState:
    """Everything a recommender needs at serving time, as arrays indexed by catalogue row and user row."""

    catalogue: Catalogue
    user_ids: tuple[str, ...]
    users: np.ndarray  # every interaction: user row, item row, time, weight (0: not positive)
    items: np.ndarray
    times: np.ndarray
    weights: np.ndarray
    vectors: np.ndarray  # fine-tuned item embeddings
    collab_users: np.ndarray
    collab_items: np.ndarray
    popularity: np.ndarray
    freshness: np.ndarray
    blender: Blender
    decay: float
    history: int

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save

        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in
                  ("users", "items", "times", "weights", "vectors", "collab_users", "collab_items", "popularity",
                   "freshness")}
        write_bytes_atomic(folder / "state.safetensors", save(arrays))
        write_json_atomic(folder / "state.json", {
            "schema": SCHEMA, "item_ids": list(self.catalogue.item_ids), "texts": list(self.catalogue.texts),
            "fields": {k: list(v) for k, v in self.catalogue.fields.items()}, "user_ids": list(self.user_ids),
            "blender": self.blender.to_dict(), "decay": self.decay, "history": self.history})

    @classmethod
    def load(cls, folder: Path) -> BuildState:
        from safetensors.numpy import load_file

        if not (folder / "state.json").is_file():
            raise ArtifactError(f"{folder} is not a recommender build (no state.json)",
                                hint="build one with `tunelab recommend build`")
        meta = read_json(folder / "state.json")
        if meta.get("schema") != SCHEMA:
            raise ArtifactError(f"{folder}: unknown recommender schema {meta.get('schema')!r}")
        arrays = load_file(str(folder / "state.safetensors"))
        catalogue = Catalogue(tuple(meta["item_ids"]), tuple(meta["texts"]),
                              {k: tuple(v) for k, v in meta["fields"].items()})
        return cls(catalogue, tuple(meta["user_ids"]), *(arrays[k] for k in (
            "users", "items", "times", "weights", "vectors", "collab_users", "collab_items", "popularity",
            "freshness")), Blender.from_dict(meta["blender"]), float(meta["decay"]), int(meta["history"]))
