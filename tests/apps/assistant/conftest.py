"""Assistant test helpers: a small knowledge base (the intents of tests/conftest.py plus two FAQ entries) and the
tiny build options. The session fixtures `kb_file` and `built` (the assistant built from it on the tiny model)
live in tests/conftest.py, shared with the dashboard's assistant pages."""

from __future__ import annotations

from pathlib import Path

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


def tiny_options(model: Path, **overrides):
    from tunelab.apps.assistant.build import BuildOptions

    settings = {"name": "support", "model": str(model), "epochs": 3, "batch_size": 6, "lr": 3e-3,
                "precision": "fp32", "patience": 0, "show_progress": False, **overrides}
    return BuildOptions(**settings)

