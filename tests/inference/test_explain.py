"""Token attributions: faithful on a task one keyword decides (deleting the top words hurts far more than random
ones), IG completeness, offsets into the original text, multi-label and NER targets, bad options refused."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_csv
from tunelab.errors import UnknownLabelError, UsageError

FILLER = ["the", "a", "my", "your", "today", "again", "very", "please", "now", "still", "with", "from", "about",
          "there", "some", "team", "order", "account", "thanks", "hello", "quick", "note", "here", "then"]
# the only word that tells the label; four classes, so "no keyword I know" cannot stand for most of them
KEYWORDS = {"billing": "invoice", "travel": "flight", "weather": "rain", "music": "guitar"}


def keyword_texts(n: int, seed: int) -> list[tuple[str, str]]:
    """(text, label): 4-7 filler words with the label's keyword at a random place."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = sorted(KEYWORDS)[i % len(KEYWORDS)]
        words = rng.choices(FILLER, k=rng.randint(4, 7))
        words.insert(rng.randint(0, len(words)), KEYWORDS[label])
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture(scope="module")
def keyword_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tunelab
    from tunelab.models.tiny import build_tiny_bert

    root = tmp_path_factory.mktemp("keyword")
    rows = keyword_texts(160, seed=0)
    model = build_tiny_bert(root / "tiny", [t for t, _ in rows], hidden=64)
    data = write_csv(root / "train.csv", [{"text": t, "label": label} for t, label in rows])
    tunelab.train(data=str(data), dev=str(data), test=str(data), task="classification", model=str(model),
                  output=str(root / "run"), epochs=20, batch_size=8, lr=2e-3, warmup_ratio=0.0, patience=0,
                  precision="fp32", show_progress=False, seed=1)
    return root / "run"


def delete_words(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return " ".join(text.split())


def probability(predictor, text: str, label: str) -> float:
    return predictor.predict_proba([text])[0][label]


@pytest.mark.parametrize("method", ["ig", "grad"])
def test_deleting_top_words_hurts_far_more_than_random_words(keyword_run: Path, method: str) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.explain import explain

    predictor = Predictor.load(keyword_run)
    rng = random.Random(7)
    top_drops, random_drops = [], []
    for text, label in keyword_texts(16, seed=99):  # unseen texts
        prediction = predictor.predict([text])[0]
        assert prediction.label == label  # the model learned the keyword
        (explanation,) = explain(predictor, text, method=method)
        assert explanation.label == label
        before = probability(predictor, text, label)
        words = explanation.words
        top = max(words, key=lambda w: w.score)
        top_drops.append(before - probability(predictor, delete_words(text, [(top.start, top.end)]), label))
        for _ in range(3):
            other = rng.choice(words)
            random_drops.append(before - probability(predictor, delete_words(text, [(other.start, other.end)]),
                                                     label))
    assert np.mean(top_drops) > 0.15, top_drops  # 4 classes: chance is 0.25
    assert np.mean(top_drops) > 3 * max(np.mean(random_drops), 0.01), (top_drops, random_drops)


def test_ig_is_complete_and_tokens_point_into_the_text(keyword_run: Path) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.explain import explain

    predictor = Predictor.load(keyword_run)
    text = "  hello   the INVOICE,  please now"
    (ig,) = explain(predictor, text, method="ig", steps=64)
    assert ig.method == "ig" and ig.target == "log_probability" and ig.delta is not None
    assert abs(ig.delta) < 0.05 * max(1.0, abs(sum(t.score for t in ig.tokens)))
    assert [t.text for t in ig.words] == ["hello", "the", "INVOICE", ",", "please", "now"]
    for token in ig.tokens + ig.words:
        assert text[token.start:token.end] == token.text
    assert sum(t.score for t in ig.words) == pytest.approx(sum(t.score for t in ig.tokens), abs=1e-6)
    assert max(ig.words, key=lambda w: w.score).text == "INVOICE"
    (grad,) = explain(predictor, text, method="grad")
    assert grad.delta is None and [t.start for t in grad.tokens] == [t.start for t in ig.tokens]
    (against,) = explain(predictor, text, label="travel")  # the keyword pushes against the other label
    assert against.label == "travel" and against.probability < 0.5
    assert min(against.words, key=lambda w: w.score).text == "INVOICE"


def test_word_pieces_merge_into_words(keyword_run: Path) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.explain import explain

    predictor = Predictor.load(keyword_run)
    text = "invoice zqx"  # "zqx" is not in the word vocabulary: letters as pieces
    (explanation,) = explain(predictor, text, method="grad")
    assert [t.text for t in explanation.tokens] == ["invoice", "z", "q", "x"]
    assert [(w.text, w.start, w.end) for w in explanation.words] == [("invoice", 0, 7), ("zqx", 8, 11)]
    assert explanation.words[1].score == pytest.approx(sum(t.score for t in explanation.tokens[1:]))


def test_bad_options_are_refused(keyword_run: Path) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.explain import explain

    predictor = Predictor.load(keyword_run)
    with pytest.raises(UnknownLabelError, match="unknown label 'sports'") as caught:
        explain(predictor, "my flight", label="sports")
    assert caught.value.details["allowed"] == sorted(KEYWORDS)
    with pytest.raises(UsageError, match="choose one of: ig, grad"):
        explain(predictor, "my flight", method="shap")
    with pytest.raises(UsageError, match="empty"):
        explain(predictor, "   ")
    with pytest.raises(UsageError, match="baseline"):
        explain(predictor, "my flight", baseline="zeros")


def test_multilabel_explains_each_predicted_label(served_runs: dict[str, Path]) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.explain import explain

    predictor = Predictor.load(served_runs["multilabel"])
    text = "please refund my order"
    predicted = predictor.predict([text])[0].labels
    explanations = explain(predictor, text)
    assert [e.label for e in explanations] == list(predicted) and predicted
    for e in explanations:
        assert e.target == "log_odds"
        assert e.probability == pytest.approx(predictor.predict_proba([text])[0][e.label], abs=1e-4)
    (one,) = explain(predictor, text, label="shipping", method="grad")
    assert one.label == "shipping" and one.probability < 0.5


def test_ner_explains_each_predicted_span(served_runs: dict[str, Path]) -> None:
    from tunelab.inference import Predictor
    from tunelab.inference.explain import explain

    predictor = Predictor.load(served_runs["ner"])
    text = "Alice visited Paris today"
    spans = predictor.predict([text])[0].spans
    explanations = explain(predictor, text)
    assert [(e.span.start, e.span.end, e.label) for e in explanations] == [(s.start, s.end, s.label) for s in spans]
    assert {e.label for e in explanations} >= {"PER", "LOC"}
    for e in explanations:
        assert [w.text for w in e.words] == text.split()
        assert abs(e.delta) < 0.1 * max(1.0, abs(sum(w.score for w in e.words)))
    only_loc = explain(predictor, text, label="LOC", method="grad")
    assert [e.span.text for e in only_loc] == ["Paris"]
    with pytest.raises(UnknownLabelError):
        explain(predictor, text, label="B-LOC")  # entity types, not tags


def test_cli_explain(keyword_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.conftest import invoke_cli

    result = invoke_cli(["explain", str(keyword_run), "--text", "my rain today", "--json"], monkeypatch, capsys)
    assert result.code == 0, result.err
    (explanation,) = json.loads(result.out)["explanations"]
    assert explanation["label"] == "weather" and explanation["method"] == "ig"
    assert [w["text"] for w in explanation["words"]] == ["my", "rain", "today"]
    from tunelab.inference import Predictor
    from tunelab.inference.explain import explain

    (direct,) = explain(Predictor.load(keyword_run), "my rain today")
    assert [w["score"] for w in explanation["words"]] == [round(w.score, 6) for w in direct.words]
    assert explanation["delta"] == round(direct.delta, 6) and explanation["words"][1]["start"] == 3
    text = invoke_cli(["explain", str(keyword_run), "-t", "my rain today", "--method", "grad"], monkeypatch, capsys)
    assert text.code == 0 and text.out.startswith("weather  p=") and "(grad, scores add to the log probability)" \
        in text.out and "rain" in text.out
    bad = invoke_cli(["explain", str(keyword_run), "-t", "my rain", "--label", "sports"], monkeypatch, capsys)
    assert bad.code == 2 and "unknown label 'sports'" in bad.err
    bad = invoke_cli(["explain", str(keyword_run), "-t", "my rain", "--method", "lime"], monkeypatch, capsys)
    assert bad.code == 2 and "choose one of: ig, grad" in bad.err
    missing = invoke_cli(["explain", str(keyword_run / "nope"), "-t", "my rain"], monkeypatch, capsys)
    assert missing.code == 2
