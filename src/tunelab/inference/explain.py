"""Token attributions: which words pushed a loaded model toward (or against) each label it predicted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tunelab.errors import UnknownLabelError, UsageError
from tunelab.inference.predictor import Predictor
from tunelab.models.casing import model_case_id_base, unpack, with_case_of
from tunelab.tasks.base import Encoded, sigmoid, softmax
from tunelab.types import ClassPrediction, Example, MultiLabelPrediction, NerPrediction, Prediction, Span

METHODS = ("ig", "grad")  # integrated gradients (Captum), gradient x input (one backward pass)
BASELINES = ("pad", "mask")  # the token every non-special input token becomes in the IG baseline


@dataclass(frozen=True)
class TokenScore:
    """One token (or word) of the text: `text[start:end]`, and its share of the explained score
    (positive: pushed toward the label; negative: against it)."""

    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Explanation:
    """Why the model gave `label`: per word-piece and per word attributions.

    `target` says what the scores add up to (IG: minus the score of the baseline text, up to `delta`):
    "log_probability" (classification; NER: summed over the span's words) or "log_odds" (multi-label)."""

    label: str
    probability: float
    method: str
    target: str
    tokens: tuple[TokenScore, ...]  # the word pieces the model read; special tokens left out
    words: tuple[TokenScore, ...]  # the pieces merged into words (scores added)
    span: Span | None = None  # NER: the entity explained
    delta: float | None = None  # IG completeness gap: sum(scores) - (f(text) - f(baseline)); near 0 = converged


@dataclass(frozen=True)
class _Target:
    """One thing to explain, and the scalar of the model's logits whose attributions explain it."""

    label: str
    probability: float
    kind: str  # "log_probability" or "log_odds"
    positions: tuple[int, ...] = ()  # NER: the first piece of each word of the span
    classes: tuple[int, ...] = ()  # the class per position (classification: one class, no positions)
    span: Span | None = None


def explain(predictor: Predictor, text: str, *, label: str | None = None, method: str = "ig", steps: int = 32,
            baseline: str = "pad", internal_batch_size: int | None = None) -> list[Explanation]:
    """Attributions for what `predictor` predicts on `text`: the predicted label (classification), each
    predicted label (multi-label; the top-scoring one when none passes its threshold) or each predicted entity
    (NER). `label` explains that label instead (NER: the predicted entities of that type).

    `method`: "ig" (integrated gradients over `steps` points from a baseline where every non-special token is
    [PAD] or [MASK], batched `internal_batch_size` at a time) or "grad" (the gradient at the text times its
    difference from that baseline: one forward and backward pass)."""
    _check_options(method, steps, baseline)
    if not isinstance(text, str) or not text.strip():
        raise UsageError("the text to explain is empty")
    if label is not None and label not in predictor.labels:
        raise UnknownLabelError(f"unknown label {label!r}", allowed=predictor.labels,
                                hint=f"the model knows: {', '.join(predictor.labels)}")
    task = predictor.task
    example = task.wrap_text(text, predictor.manifest.task_state)
    encoded = task.encode([example], predictor.tokenizer, predictor.label_set, predictor._max_length())[0]
    model = predictor._torch_model()
    logits = _logits(model, encoded)
    prediction = task.decode([logits], [encoded], [example], predictor.label_set, predictor.manifest.task_state)[0]
    targets = _targets(predictor, prediction, logits, encoded, example, label)
    pieces = piece_spans(predictor.tokenizer, example, encoded)
    ids = encoded.input_ids
    base = _baseline_ids(predictor.tokenizer, ids, pieces, baseline)
    out = []
    for target in targets:
        scores, delta = _attribute(model, ids, base, _score_fn(target), method, steps, internal_batch_size)
        tokens, words = _token_scores(text, pieces, scores)
        out.append(Explanation(target.label, round(target.probability, 6), method, target.kind, tokens, words,
                               target.span, None if delta is None else round(delta, 6)))
    return out


def explanation_to_dict(explanation: Explanation, digits: int = 6) -> dict[str, Any]:
    """JSON-ready form (CLI `--json`, the API)."""
    data = asdict(explanation)
    for key in ("tokens", "words"):
        data[key] = [{**t, "score": round(t["score"], digits)} for t in data[key]]
    return data


def _check_options(method: str, steps: int, baseline: str) -> None:
    if method not in METHODS:
        raise UsageError(f"unknown explanation method {method!r}; choose one of: {', '.join(METHODS)}")
    if baseline not in BASELINES:
        raise UsageError(f"unknown baseline {baseline!r}; choose one of: {', '.join(BASELINES)}")
    if not 2 <= steps <= 1024:
        raise UsageError(f"steps must be between 2 and 1024, not {steps}")


def _logits(model: Any, encoded: Encoded) -> np.ndarray:
    import torch

    from tunelab.models.forward import torch_mode

    with torch_mode(model, None):
        ids = torch.tensor([encoded.input_ids], dtype=torch.long)
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    return out[0].float().numpy()


# ---- what to explain -----------------------------------------------------------------------------------------


def _targets(predictor: Predictor, prediction: Prediction, logits: np.ndarray, encoded: Encoded,
             example: Example, label: str | None) -> list[_Target]:
    names = predictor.label_set.names
    if isinstance(prediction, ClassPrediction):
        chosen = label or prediction.label
        probs = softmax(logits)
        return [_Target(chosen, float(probs[names.index(chosen)]), "log_probability",
                        classes=(names.index(chosen),))]
    if isinstance(prediction, MultiLabelPrediction):
        probs = sigmoid(logits)
        chosen_labels = [label] if label else list(prediction.labels) or [names[int(probs.argmax())]]
        return [_Target(x, float(probs[names.index(x)]), "log_odds", classes=(names.index(x),))
                for x in chosen_labels]
    if isinstance(prediction, NerPrediction):
        return [_span_target(s, logits, encoded, example) for s in prediction.spans
                if label is None or s.label == label]
    raise TypeError(f"cannot explain a {type(prediction).__name__}")


def _span_target(span: Span, logits: np.ndarray, encoded: Encoded, example: Example) -> _Target:
    """The log-probability of the tags the model gave the span's words (at each word's first piece)."""
    offsets = getattr(example, "offsets", ())
    positions: list[int] = []
    seen: set[int] = set()
    for position, word in enumerate(encoded.word_ids):
        if word is None or word in seen or word >= len(offsets):
            continue
        seen.add(word)
        if offsets[word][0] >= span.start and offsets[word][1] <= span.end:
            positions.append(position)
    classes = tuple(int(logits[p].argmax()) for p in positions)
    return _Target(span.label, float(span.score if span.score is not None else 1.0), "log_probability",
                   tuple(positions), classes, span)


def _score_fn(target: _Target) -> Callable[[Any], Any]:
    """Logits (batch, classes) or (batch, tokens, classes) -> the explained scalar per row."""
    import torch

    def score(logits: Any) -> Any:
        logits = logits.float()
        if target.positions:
            logp = torch.log_softmax(logits, dim=-1)
            rows = logp[:, list(target.positions), list(target.classes)]
            return rows.sum(dim=-1)
        if target.kind == "log_odds":
            return logits[:, target.classes[0]]
        return torch.log_softmax(logits, dim=-1)[:, target.classes[0]]

    return score


# ---- attributions ----------------------------------------------------------------------------------------------


def _baseline_ids(tokenizer: Any, ids: Sequence[int], pieces: Sequence[tuple[int, int, int] | None],
                  baseline: str) -> list[int]:
    """The input with every text piece replaced by [PAD] (or [MASK]); special tokens kept, and each piece's case
    where the model reads it (models/casing.py): the attributions are the words', given their case."""
    fill = tokenizer.mask_token_id if baseline == "mask" else tokenizer.pad_token_id
    if fill is None:
        raise UsageError(f"this model's tokenizer has no {baseline} token; use the other baseline")
    return [with_case_of(int(fill), int(i), tokenizer) if piece is not None else int(i)
            for i, piece in zip(ids, pieces)]


def _attribute(model: Any, ids: Sequence[int], base: Sequence[int], score: Callable[[Any], Any], method: str,
               steps: int, internal_batch_size: int | None) -> tuple[np.ndarray, float | None]:
    """(attribution per input token, IG's convergence delta) on the model's input embeddings, in eval mode."""
    import torch

    inputs, baselines = torch.tensor([list(ids)], dtype=torch.long), torch.tensor([list(base)], dtype=torch.long)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            if method == "ig":
                return _integrated_gradients(model, inputs, baselines, score, steps, internal_batch_size)
            return _gradient_x_input(model, inputs, baselines, score), None
    finally:
        model.train(was_training)


def _integrated_gradients(model: Any, inputs: Any, baselines: Any, score: Callable[[Any], Any], steps: int,
                          internal_batch_size: int | None) -> tuple[np.ndarray, float]:
    from captum.attr import LayerIntegratedGradients

    def forward(input_ids: Any, attention_mask: Any) -> Any:
        return score(model(input_ids=input_ids, attention_mask=attention_mask).logits)

    attributions, delta = LayerIntegratedGradients(forward, model.get_input_embeddings()).attribute(
        inputs, baselines=baselines, additional_forward_args=(inputs.new_ones(inputs.shape),), n_steps=steps,
        internal_batch_size=internal_batch_size or steps, return_convergence_delta=True)
    return attributions.sum(dim=-1)[0].detach().float().numpy(), float(delta[0])


def _gradient_x_input(model: Any, inputs: Any, baselines: Any, score: Callable[[Any], Any]) -> np.ndarray:
    """The gradient at the input times (input - baseline) embedding: one forward and backward pass, in IG's units
    (the first-order term IG integrates; plain gradient x embedding did worse than random deletion in a first
    bench-explain run)."""
    import torch

    layer = model.get_input_embeddings()
    captured: list[Any] = []

    def capture(_module: Any, _args: Any, out: Any) -> Any:  # a leaf to differentiate by, even if weights are frozen
        captured.append(out.detach().requires_grad_())
        return captured[-1]

    hook = layer.register_forward_hook(capture)
    try:
        value = score(model(input_ids=inputs, attention_mask=inputs.new_ones(inputs.shape)).logits).sum()
    finally:
        hook.remove()
    (gradient,) = torch.autograd.grad(value, captured[0])
    base = model_case_id_base(model)  # ids may carry the words' case (models/casing.py): the layer reads them plain
    with torch.no_grad():
        plain = baselines if base is None else torch.remainder(baselines, base)
        attributions = (gradient * (captured[0] - layer(plain))).sum(dim=-1)
    return attributions[0].detach().float().numpy()


# ---- from pieces back to the text ------------------------------------------------------------------------------


def piece_spans(tokenizer: Any, example: Example, encoded: Encoded) -> list[tuple[int, int, int] | None]:
    """(start, end, word) in the original text for each piece of `encoded`; None for special tokens.

    The task's encoding (truncation, dropped pieces) is a subsequence of the tokenizer's full encoding with
    offsets, so each encoded piece is found in it in order."""
    words = getattr(example, "tokens", None)
    if words is None:
        full = tokenizer(example.text, return_offsets_mapping=True)
        spans = [(s, e, w) for (s, e), w in zip(full["offset_mapping"], full.word_ids())]
    else:
        full = tokenizer(list(words), is_split_into_words=True, return_offsets_mapping=True)
        starts = example.offsets  # type: ignore[union-attr]
        spans = [(starts[w][0] + s, starts[w][0] + e, w) if w is not None else (0, 0, None)
                 for (s, e), w in zip(full["offset_mapping"], full.word_ids())]
    full_ids, out, i = list(full["input_ids"]), [], 0
    for token in unpack(encoded.input_ids, tokenizer):  # without the words' case a model may carry in its ids
        while i < len(full_ids) and full_ids[i] != token:
            i += 1
        start, end, word = spans[i] if i < len(full_ids) else (0, 0, None)
        out.append(_trimmed(example.text, start, end, word))
        i += 1
    return out


def _trimmed(text: str, start: int, end: int, word: int | None) -> tuple[int, int, int] | None:
    """The span without surrounding whitespace (SentencePiece pieces may carry the space before a word)."""
    if word is None:
        return None
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end, word) if end > start else None


def _token_scores(text: str, pieces: Sequence[tuple[int, int, int] | None],
                  scores: np.ndarray) -> tuple[tuple[TokenScore, ...], tuple[TokenScore, ...]]:
    """Per-piece scores, and per-word scores (pieces of one word added, its span from first to last piece)."""
    tokens, words = [], []
    for piece, score in zip(pieces, scores):
        if piece is None:
            continue
        start, end, word = piece
        tokens.append(TokenScore(text[start:end], start, end, float(score)))
        if words and words[-1][2] == word:
            first, _end, _word, total = words[-1]
            words[-1] = (first, max(end, _end), word, total + float(score))
        else:
            words.append((start, end, word, float(score)))
    merged = tuple(TokenScore(text[s:e], s, e, total) for s, e, _w, total in words)
    return tuple(tokens), merged
