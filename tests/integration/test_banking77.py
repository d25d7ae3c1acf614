"""Integration: the bundled MiniLM fine-tuned on a slice of Banking77 beats a floor."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tests.conftest import shared_data

import tunelab

pytestmark = pytest.mark.integration

INTENTS = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed", "pin_blocked",
           "cash_withdrawal_charge", "transfer_not_received_by_recipient", "apple_pay_or_google_pay"]


def subset(path: Path, out: Path, per_class: int) -> Path:
    counts: dict[str, int] = {}
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            label = row["category"]
            if label in INTENTS and counts.get(label, 0) < per_class:
                counts[label] = counts.get(label, 0) + 1
                rows.append({"text": row["text"], "label": label})
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_bundled_model_on_banking77_slice(tmp_path: Path) -> None:
    folder = shared_data("banking77")
    train = subset(folder / "train.csv", tmp_path / "train.csv", 40)
    test = subset(folder / "test.csv", tmp_path / "test.csv", 25)
    summary = tunelab.train(data=str(train), test=str(test), output=str(tmp_path / "run"), epochs=6,
                            show_progress=False)
    accuracy = summary.manifest.metrics["test"]["accuracy"]
    assert accuracy >= 0.85, f"accuracy {accuracy:.3f} below the 0.85 floor on 8 Banking77 intents"
    prediction = tunelab.load(summary.run_dir).predict(["I lost my card, someone may have stolen it"])[0]
    assert prediction.label == "lost_or_stolen_card"
