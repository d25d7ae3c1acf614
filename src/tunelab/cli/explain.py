"""`tunelab explain`: which words pushed a run's prediction toward or against its label."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tunelab.cli.output import echo

Opt = typer.Option


def explain(
    run: Annotated[str, typer.Argument(help="A finished run folder.")],
    text: Annotated[str, Opt("--text", "-t", help="The text to explain.")],
    method: Annotated[str, Opt(help="ig (integrated gradients) or grad (gradient x input, faster).")] = "ig",
    label: Annotated[str | None, Opt(help="Explain this label instead of the predicted one(s) "
                                          "(NER: the predicted entities of this type).")] = None,
    steps: Annotated[int, Opt(help="Integration steps (ig).")] = 32,
    baseline: Annotated[str, Opt(help="pad or mask: what the IG baseline puts in place of each token.")] = "pad",
    as_json: Annotated[bool, Opt("--json", help="Print as JSON (tokens and words with character offsets).")] = False,
) -> None:
    """Token attributions for one text: positive scores pushed toward the label, negative against it."""
    from tunelab.inference import Predictor
    from tunelab.inference.explain import explain as run_explain
    from tunelab.inference.explain import explanation_to_dict

    explanations = run_explain(Predictor.load(run), text, label=label, method=method, steps=steps,
                               baseline=baseline)
    if as_json:
        echo(json.dumps({"text": text, "explanations": [explanation_to_dict(e) for e in explanations]},
                        indent=2, ensure_ascii=False))
        return
    if not explanations:
        echo("nothing to explain: the model found no entity" + (f" of type {label}" if label else ""))
    for explanation in explanations:
        show_explanation(explanation)


def show_explanation(explanation: Any) -> None:
    """The label line, then each word with its score and a bar (+ toward the label, - against)."""
    span = explanation.span
    what = f"{explanation.label} {span.text!r} [{span.start}:{span.end}]" if span else explanation.label
    delta = f", delta {explanation.delta:+.4f}" if explanation.delta is not None else ""
    echo(f"{what}  p={explanation.probability:.3f}  ({explanation.method}, scores add to the "
         f"{explanation.target.replace('_', ' ')}{delta})")
    peak = max((abs(w.score) for w in explanation.words), default=0.0) or 1.0
    for word in explanation.words:
        bar = ("+" if word.score >= 0 else "-") * max(1, round(10 * abs(word.score) / peak))
        echo(f"  {word.score:+8.4f}  {bar:<10}  {word.text}")
