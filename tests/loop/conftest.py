"""Loop fixtures. Drift and suggestions: a classification run on the bundled support tickets with a tiny
random-weight BERT. Retraining: a keyword data set the tiny model learns in seconds, a champion registered on it,
and corrections."""

from __future__ import annotations

import csv
import json
import random
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from tests.conftest import write_csv
from tunelab.registry import PredictionRecord, Store

DEMO = resources.files("tunelab") / "demo_data"


def support_texts(name: str) -> list[str]:
    with (DEMO / name).open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def news_texts() -> list[str]:
    """Another data set: the monitor demo's financial news headlines (another vocabulary, tickers, numbers)."""
    lines = (DEMO / "monitor_stream.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


@pytest.fixture(scope="session")
def support_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained for two epochs on support_train.csv (dev and test carved from it). The word vocabulary covers both
    support files, as a real tokenizer's covers the domain; the news headlines fall apart into letters."""
    import tunelab
    from tunelab.models.tiny import build_tiny_bert

    root = tmp_path_factory.mktemp("loop")
    model = build_tiny_bert(root / "tiny", support_texts("support_train.csv") + support_texts("support_test.csv"))
    data = root / "support_train.csv"
    data.write_bytes((DEMO / "support_train.csv").read_bytes())
    tunelab.train(data=str(data), task="classification", output=str(root / "run"), model=str(model), epochs=2,
                  batch_size=32, lr=3e-3, warmup_ratio=0.0, patience=0, precision="fp32", show_progress=False, seed=1)
    return root / "run"


KEYWORDS = {"refund": ["refund", "money"], "shipping": ["parcel", "delivery"], "password": ["password", "login"]}
FILLER = ["my", "the", "please", "now", "today", "help", "again", "order", "account", "with", "need", "urgent"]
SWAP = {"refund": "shipping", "shipping": "refund", "password": "password"}


def make_texts(label: str, n: int, seed: int) -> list[str]:
    rng = random.Random(f"{label}-{seed}")
    return [" ".join([rng.choice(FILLER), KEYWORDS[label][i % 2], rng.choice(FILLER)]) for i in range(n)]


TRAIN = {label: make_texts(label, 10, 1) for label in KEYWORDS}
GOLDEN = {label: [t for t in make_texts(label, 14, 2) if t not in TRAIN[label]][:6] for label in KEYWORDS}
OPTIONS = {"epochs": 8, "batch_size": 5, "lr": 1e-2, "warmup_ratio": 0.0, "patience": 0, "precision": "fp32",
           "show_progress": False, "seed": 3}


def rows(data: dict[str, list[str]], relabel: dict[str, str] | None = None) -> list[dict[str, str]]:
    return [{"text": t, "label": (relabel or {}).get(label, label)} for label, texts in data.items() for t in texts]


@pytest.fixture(scope="session")
def loop_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tunelab.models.tiny import build_tiny_bert

    texts = [" ".join(FILLER)] + [" ".join(words) for words in KEYWORDS.values()]
    return build_tiny_bert(tmp_path_factory.mktemp("loop-bert"), texts)


def train_run(model: Path, data: Path, output: Path) -> Path:
    import tunelab

    tunelab.train(data=str(data), dev=str(data), test_fraction=0.0, output=str(output), model=str(model),
                  task="classification", **OPTIONS)
    return output


@pytest.fixture(scope="session")
def good_run(tmp_path_factory: pytest.TempPathFactory, loop_model: Path) -> Path:
    """A champion trained on the right labels."""
    root = tmp_path_factory.mktemp("loop-good")
    return train_run(loop_model, write_csv(root / "good.csv", rows(TRAIN)), root / "run")


@pytest.fixture(scope="session")
def swapped_run(tmp_path_factory: pytest.TempPathFactory, loop_model: Path) -> Path:
    """A champion trained with refund and shipping swapped."""
    root = tmp_path_factory.mktemp("loop-swapped")
    return train_run(loop_model, write_csv(root / "swapped.csv", rows(TRAIN, SWAP)), root / "run")


@pytest.fixture
def golden_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "golden.csv", rows(GOLDEN))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    registry = Store(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        yield registry
    finally:
        registry.close()


def correct(store: Store, model: str, version: int, text: str, label: str) -> int:
    """Log a prediction of `text` and give it the corrected `label`; returns the feedback id."""
    pid = uuid.uuid4().hex
    store.log_predictions([PredictionRecord(pid, model, version, {"label": "password", "score": 0.5}, 1.0, text)])
    return int(store.add_feedback(pid, label=label)["id"])
