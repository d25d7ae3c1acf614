"""Shared fixtures: a tiny random BERT built in the test session and small data files."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

INTENTS = {
    "refund": ["i want my money back", "please refund my order", "refund the charge now",
               "how do i get a refund", "money back for this purchase", "give me a refund please"],
    "shipping": ["where is my parcel", "my package has not arrived", "track my delivery",
                 "when will the parcel ship", "delivery is late again", "parcel tracking number please"],
    "password": ["i forgot my password", "reset my password please", "cannot log in password wrong",
                 "password reset link", "change my login password", "locked out need new password"],
}

NER_SENTENCES = [
    (["Alice", "visited", "Paris", "today"], ["B-PER", "O", "B-LOC", "O"]),
    (["Bob", "Smith", "works", "at", "Acme"], ["B-PER", "I-PER", "O", "O", "B-ORG"]),
    (["Paris", "is", "big"], ["B-LOC", "O", "O"]),
    (["Acme", "hired", "Alice"], ["B-ORG", "O", "B-PER"]),
    (["Carol", "left", "Berlin"], ["B-PER", "O", "B-LOC"]),
    (["Globex", "and", "Acme", "merged"], ["B-ORG", "O", "B-ORG", "O"]),
]


def all_texts() -> list[str]:
    texts = [t for examples in INTENTS.values() for t in examples]
    texts += [" ".join(words) for words, _ in NER_SENTENCES]
    texts += ["unknown words appear here", "hello world"]
    return texts


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tunelab.models.tiny import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), all_texts())


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def intent_csv(tmp_path: Path) -> Path:
    rows = [{"text": t, "label": label} for label, texts in INTENTS.items() for t in texts]
    return write_csv(tmp_path / "intents.csv", rows)


@pytest.fixture
def multilabel_jsonl(tmp_path: Path) -> Path:
    rows = []
    for label, texts in INTENTS.items():
        for t in texts:
            labels = [label] + (["urgent"] if "please" in t or "now" in t else [])
            rows.append({"text": t, "label": labels})
    path = tmp_path / "multi.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def ner_conll(tmp_path: Path) -> Path:
    lines = ["-DOCSTART- -X- O O", ""]
    for words, tags in NER_SENTENCES:
        lines += [f"{w} X X {t}" for w, t in zip(words, tags)] + [""]
    path = tmp_path / "ner.conll"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def shared_data(name: str) -> Path:
    """A data set from ../shared/data: skip when absent, fail under CI."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        message = f"shared data set {folder} is absent (see ../shared/data/README.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must have it")
        pytest.skip(message)
    return folder
