"""The CLI commands: each parses its flags, calls one recipe, and prints text or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunelab.cli import output as view

Opt = typer.Option


def train(
    data: Annotated[str | None, Opt("--data", help="Training file: CSV, TSV, JSONL or CoNLL.")] = None,
    dev: Annotated[str | None, Opt(help="Dev file (default: carved from train, stratified).")] = None,
    test: Annotated[str | None, Opt(help="Test file (default: carved from train, stratified).")] = None,
    task: Annotated[str | None, Opt(help="classification, multilabel or ner.")] = None,
    method: Annotated[str | None, Opt(help="full, lora, adalora or probe.")] = None,
    model: Annotated[str | None, Opt(help="'minilm' (bundled) or a local model folder.")] = None,
    output: Annotated[str | None, Opt("--output", "-o", help="Run folder to create.")] = None,
    epochs: Annotated[int | None, Opt(help="Epochs (default from data size).")] = None,
    batch_size: Annotated[int | None, Opt(help="Batch size (default from data size).")] = None,
    lr: Annotated[float | None, Opt(help="Peak learning rate (default per method).")] = None,
    max_length: Annotated[int | None, Opt(help="Max tokens per text (default from the data).")] = None,
    seed: Annotated[int | None, Opt(help="Random seed.")] = None,
    precision: Annotated[str | None, Opt(help="auto, fp32 or bf16.")] = None,
    text_column: Annotated[str | None, Opt(help="Text column/key (default 'text').")] = None,
    label_column: Annotated[str | None, Opt(help="Label column/key (default 'label').")] = None,
    format: Annotated[str | None, Opt(help="csv, tsv, jsonl or conll (default: from extension).")] = None,
    config: Annotated[str | None, Opt("--config", "-c", help="YAML config file.")] = None,
    set_: Annotated[list[str] | None, Opt("--set", help="Override any config key: train.power=2.")] = None,
    resume: Annotated[str | None, Opt(help="Continue an interrupted run folder from its last checkpoint.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the result as JSON.")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Fine-tune a model on labelled data and save a run folder."""
    from tunelab.config import RunConfig, load_config
    from tunelab.recipes.train import run_train

    flags = {"data.train": data, "data.dev": dev, "data.test": test, "data.task": task,
             "train.method": method, "model.name": model, "output": output, "train.epochs": epochs,
             "train.batch_size": batch_size, "train.lr": lr, "model.max_length": max_length,
             "train.seed": seed, "train.precision": precision, "data.text_column": text_column,
             "data.label_column": label_column, "data.format": format}
    overrides = [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None] + list(set_ or [])
    run_config = RunConfig() if resume else load_config(config, overrides)
    summary = run_train(run_config, resume=resume, show_progress=not quiet)
    view.show_train_summary(summary, as_json)


def evaluate(
    run: Annotated[str, typer.Argument(help="A finished run folder.")],
    data: Annotated[str, Opt("--data", help="Labelled file to evaluate on.")],
    output_dir: Annotated[str | None, Opt("--output", "-o", help="Folder for the report.")] = None,
    text_column: Annotated[str | None, Opt(help="Text column/key.")] = None,
    label_column: Annotated[str | None, Opt(help="Label column/key.")] = None,
    format: Annotated[str | None, Opt(help="csv, tsv, jsonl or conll.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Evaluate a run on any labelled file: metrics.json, report.md and plots."""
    from tunelab.recipes.evaluate import run_evaluate

    evaluation, folder = run_evaluate(run, data, output=output_dir, text_column=text_column,
                                      label_column=label_column, format=format)
    view.show_evaluation(evaluation, folder, as_json)


def predict(
    run: Annotated[str, typer.Argument(help="A finished run folder.")],
    input_file: Annotated[str | None, typer.Argument(help="CSV/TSV/JSONL file of texts; else stdin lines.")] = None,
    text: Annotated[list[str] | None, Opt("--text", "-t", help="A text to classify (repeatable).")] = None,
    output_file: Annotated[str | None, Opt("--output", "-o", help="Write .jsonl or .csv here, not stdout.")] = None,
    out_format: Annotated[str, Opt("--out-format", help="jsonl or csv.")] = "jsonl",
    text_column: Annotated[str | None, Opt(help="Text column/key of the input file.")] = None,
    batch_size: Annotated[int, Opt(help="Texts per forward pass.")] = 32,
) -> None:
    """Predict labels (or NER spans) for texts from a file, --text, or stdin; JSONL or CSV out."""
    from tunelab.inference import Predictor

    texts = view.read_texts(run, input_file, text, text_column)
    predictions = Predictor.load(run).predict(texts, batch_size=batch_size)
    view.write_predictions(texts, predictions, output_file, out_format)


def runs(
    folder: Annotated[str, typer.Argument(help="Folder holding run folders.")] = "runs",
    as_json: Annotated[bool, Opt("--json", help="Print as JSON.")] = False,
) -> None:
    """List runs with their task, method and key metrics."""
    from tunelab.recipes.runs import list_runs

    view.show_runs(list_runs(Path(folder)), as_json)


def demo(
    output_dir: Annotated[str, Opt("--output", "-o", help="Run folder for the demo model.")] = "runs/demo",
    epochs: Annotated[int | None, Opt(help="Epochs (default from data size).")] = None,
) -> None:
    """Train an intent classifier on the bundled support tickets, evaluate it, answer sample questions."""
    from tunelab.recipes.demo import run_demo

    result: dict[str, Any] = run_demo(Path(output_dir), epochs=epochs)
    sys.stdout.write(result["text"])
