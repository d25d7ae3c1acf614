"""A classification run on the bundled support tickets with a tiny random-weight BERT, shared by the loop tests."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import pytest

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
