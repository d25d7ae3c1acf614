"""Assistant fixtures: a small knowledge base (the intents of tests/conftest.py plus two FAQ entries) and one
assistant built from it on the tiny model, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import INTENTS

FAQ = {"hello": ["hello world", "hello there world"], "unknown": ["unknown words appear here", "words appear unknown"]}


def kb_yaml(extra: str = "") -> str:
    lines = ["variables:", "  email: help@example.com", "intents:"]
    for name, examples in INTENTS.items():
        answer = "Write to {email} about: {question}" if name == "refund" else f"Answer for {name}."
        lines += [f"  - name: {name}", f"    answer: \"{answer}\"", "    examples:"]
        lines += [f"      - {text}" for text in examples]
    lines.append("faq:")
    for entry, questions in FAQ.items():
        lines += [f"  - id: {entry}", f"    answer: FAQ answer {entry}.", "    questions:"]
        lines += [f"      - {q}" for q in questions]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture(scope="session")
def kb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kb") / "kb.yaml"
    path.write_text(kb_yaml(), encoding="utf-8")
    return path


def tiny_options(model: Path, **overrides):
    from tunelab.apps.assistant.build import BuildOptions

    settings = {"name": "support", "model": str(model), "epochs": 3, "batch_size": 6, "lr": 3e-3,
                "precision": "fp32", "patience": 0, "show_progress": False, **overrides}
    return BuildOptions(**settings)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, kb_file: Path) -> Path:
    from tunelab.apps.assistant.build import run_build

    out = tmp_path_factory.mktemp("assistant") / "support"
    run_build(kb_file, out, tiny_options(tiny_model))
    return out
