"""FAQ retrieval applies the prefixes an encoder folder declares (e5: "query: " on questions, "passage: " on the
FAQ's phrasings), keeps them when the assistant saves its encoder, and adds nothing for folders that declare none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunelab.apps.assistant.index import FaqIndex, SentenceEncoder
from tunelab.apps.assistant.router import score_questions
from tunelab.models.multilingual import Prefixes, model_prefixes
from tunelab.models.tiny import build_tiny_xlmr

FAQ = [("refund", ["如何申请退款", "退款多久到账"]), ("password", ["忘记密码怎么办"])]


class Spy:
    """Wraps a tokenizer and records every text it is asked to encode."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.seen: list[str] = []

    def __call__(self, texts: list[str], **kwargs: Any) -> Any:
        self.seen += texts
        return self.tokenizer(texts, **kwargs)


def spied(folder: Path) -> tuple[SentenceEncoder, Spy]:
    encoder = SentenceEncoder.load(folder)
    spy = Spy(encoder.tokenizer)
    encoder.tokenizer = spy
    return encoder, spy


@pytest.fixture(scope="module")
def e5_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [q for _, qs in FAQ for q in qs] + ["我要退款", "query: passage:"]
    return build_tiny_xlmr(tmp_path_factory.mktemp("e5"), texts, prefixes=("query: ", "passage: "))


def test_questions_get_query_and_faq_entries_get_passage(e5_like: Path) -> None:
    encoder, spy = spied(e5_like)
    assert encoder.prefixes == Prefixes("query: ", "passage: ")
    index = FaqIndex.build(encoder, FAQ)
    assert sorted(spy.seen) == ["passage: 如何申请退款", "passage: 忘记密码怎么办", "passage: 退款多久到账"]
    assert index.questions == ("如何申请退款", "退款多久到账", "忘记密码怎么办")  # the evidence shown is unprefixed
    spy.seen.clear()
    scores = score_questions(["我要退款"], None, encoder, index)
    assert spy.seen == ["query: 我要退款"] and scores.faq_ids == ("refund", "password")


def test_the_saved_encoder_keeps_its_prefixes(e5_like: Path, tmp_path: Path) -> None:
    SentenceEncoder.load(e5_like).save(tmp_path / "encoder")
    assert model_prefixes(tmp_path / "encoder") == Prefixes("query: ", "passage: ")
    assert SentenceEncoder.load(tmp_path / "encoder").prefixes == Prefixes("query: ", "passage: ")


def test_an_encoder_without_declared_prefixes_gets_none(tmp_path: Path) -> None:
    folder = build_tiny_xlmr(tmp_path / "plain", [q for _, qs in FAQ for q in qs])
    encoder, spy = spied(folder)
    assert encoder.prefixes is None
    FaqIndex.build(encoder, FAQ)
    encoder.embed(["我要退款"], "query")
    assert sorted(spy.seen) == ["如何申请退款", "忘记密码怎么办", "我要退款", "退款多久到账"]
