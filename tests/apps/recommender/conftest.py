"""Shared fixtures of the recommender tests: a tiny shop (items, ratings, a tiny random BERT) and a build of it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tunelab.models.tiny import build_tiny_bert

GENRES = ["space alien scifi", "love romance wedding", "war soldier battle", "cartoon animal kids"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 users, each liking 6 items of one genre (ratings 5) and disliking one of another (rating 1)."""
    folder = tmp_path_factory.mktemp("shop")
    rng = random.Random(0)
    items = ["item_id,title,genres"] + [f"i{g}{j},film {j} {GENRES[g].split()[0]},{GENRES[g].replace(' ', '|')}"
                                        for g in range(4) for j in range(8)]
    (folder / "items.csv").write_text("\n".join(items) + "\n", encoding="utf-8")
    rows = ["user_id,item_id,rating,timestamp"]
    for u in range(30):
        g = u % 4
        rows += [f"u{u},i{g}{j},5,{t}" for t, j in enumerate(rng.sample(range(8), 6))]
        rows.append(f"u{u},i{(g + 1) % 4}0,1,99")
    (folder / "ratings.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    build_tiny_bert(folder / "tiny", items + ["new arrival robot spaceship"])
    return folder


def build_args(shop: Path, output: Path, *extra: str) -> list[str]:
    return ["recommend", "build", "--interactions", str(shop / "ratings.csv"), "--items", str(shop / "items.csv"),
            "-o", str(output), "--positive", "rating>=4", "--model", str(shop / "tiny"), "--batch-size", "8",
            "--lr", "1e-3", "--train-layers", "0", "--quiet", *extra]


@pytest.fixture(scope="module")
def built(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("build") / "rec"
    mp = pytest.MonkeyPatch()
    try:
        import sys

        mp.setattr(sys, "argv", ["tunelab", *build_args(shop, output, "--max-steps", "6")])
        from tunelab.cli.main import main

        main()
    finally:
        mp.undo()
    return output
