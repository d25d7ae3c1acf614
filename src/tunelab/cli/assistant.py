"""`tunelab assistant ...`: build, ask and evaluate a customer-service assistant; list and resolve hand-offs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

Opt = typer.Option
Arg = typer.Argument
Db = Annotated[str | None, Opt("--db", help="Registry database URL. Default: $TUNELAB_DB or ~/.tunelab/registry.db.")]
AsJson = Annotated[bool, Opt("--json", help="Print JSON.")]
Server = Annotated[str | None, Opt(help="Ask a TuneLab server (URL) instead of the local registry.")]
ApiKey = Annotated[str | None, Opt(envvar="TUNELAB_API_KEY", help="API key for --server (or $TUNELAB_API_KEY).")]

assistant_app = typer.Typer(help="Customer-service assistant: intents, FAQ answers, hand-off to a human.",
                            no_args_is_help=True)


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _store(db: str | None) -> Any:
    from tunelab.registry import Store

    return Store(db)


@assistant_app.command("build")
def build(
    kb: Annotated[str, Arg(help="Knowledge base: .yaml/.yml or .csv (see docs/assistant.md).")],
    name: Annotated[str, Opt("--name", "-n", help="Assistant name (registered under it).")],
    output: Annotated[str, Opt("--output", "-o", help="Assistant folder to create.")],
    model: Annotated[str, Opt(help="'minilm' (bundled), 'mpnet', 'multilingual' or a local encoder.")] = "minilm",
    target: Annotated[str, Opt(help="Out-of-scope target the thresholds are calibrated for: recall=0.8 or "
                                    "precision=0.9.")] = "recall=0.8",
    holdout: Annotated[str, Opt(help="Simulate out-of-scope questions by holding out intents/FAQ entries: auto "
                                     "(when the KB has < 20 out_of_scope examples, or trains on them), always, "
                                     "never.")] = "auto",
    ood_score: Annotated[str, Opt(help="The out-of-scope score that decides hand-offs: combined (default), "
                                       "mahalanobis, relative_mahalanobis, knn, nearest, energy, msp, faq, reject, "
                                       "or thresholds (softmax and FAQ thresholds, as before).")] = "combined",
    oos_training: Annotated[str, Opt(help="auto: when the KB has >= 40 out_of_scope examples, half of them train "
                                          "the classifier as an out-of-scope class (the rest calibrate); never: "
                                          "they only calibrate.")] = "auto",
    oos_share: Annotated[float | None, Opt(help="Expected share of out-of-scope questions in traffic (e.g. 0.13); "
                                                "the calibration's precision is computed for it.")] = None,
    traffic: Annotated[str | None, Opt(help="Unlabelled traffic questions (.csv with a text column, or one per "
                                            "line) to estimate the out-of-scope share from, when "
                                            "--oos-share is not given.")] = None,
    epochs: Annotated[int | None, Opt(help="Classifier epochs (default from data size).")] = None,
    batch_size: Annotated[int | None, Opt(help="Classifier batch size.")] = None,
    lr: Annotated[float | None, Opt(help="Classifier learning rate.")] = None,
    seed: Annotated[int, Opt(help="Seed for splits and training.")] = 42,
    precision: Annotated[str, Opt(help="auto, fp32 or bf16.")] = "auto",
    register: Annotated[bool, Opt("--register/--no-register", help="Register the folder in the registry.")] = True,
    handoffs: Annotated[bool, Opt("--handoffs/--no-handoffs", help="Add the registry's resolved hand-offs of "
                                                                   "this assistant as examples.")] = True,
    db: Db = None,
    as_json: AsJson = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Fine-tune the intent classifier, index the FAQ, calibrate the thresholds; register the result."""
    from tunelab.apps.assistant.build import BuildOptions
    from tunelab.apps.assistant.calibrate import Target
    from tunelab.apps.assistant.desk import build_registered
    from tunelab.apps.assistant.evaluation import read_questions
    from tunelab.errors import UsageError

    if holdout not in ("auto", "always", "never"):
        raise UsageError("--holdout must be auto, always or never")
    options = BuildOptions(name=name, model=model, target=Target.parse(target), holdout=holdout, epochs=epochs,
                           batch_size=batch_size, lr=lr, seed=seed, precision=precision, show_progress=not quiet,
                           ood_method=ood_score, oos_share=oos_share, oos_training=oos_training,
                           traffic=tuple(read_questions(traffic)) if traffic else ())
    store = _store(db) if register or handoffs else None
    summary, version = build_registered(kb, output, options, store, use_handoffs=handoffs, register=register)
    result = {"folder": str(summary.folder), "calibration": summary.manifest.calibration,
              "counts": summary.manifest.counts, "sources": summary.manifest.sources,
              "registered": version.to_dict() if version else None, "warnings": list(summary.warnings)}
    if as_json:
        return _print(result)
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"assistant saved: {summary.folder}")
    if version:
        typer.echo(f"registered as {version.name} version {version.version}")


@assistant_app.command("ask")
def ask(
    target: Annotated[str, Arg(help="An assistant folder, or a registered assistant name.")],
    question: Annotated[list[str], Opt("--question", "-q", help="A question (repeatable).")],
    conversation: Annotated[str | None, Opt(help="Conversation id (registered assistants).")] = None,
    server: Server = None,
    api_key: ApiKey = None,
    db: Db = None,
) -> None:
    """Answer questions: the route (intent, faq, handoff), confidence, evidence and answer, as JSON lines.
    A folder is answered here without logging; a name is answered (and logged, hand-offs queued) through the
    registry or, with --server, through a server."""
    if server:
        from tunelab.client import Client

        with Client(server, api_key) as client:
            for q in question:
                reply = client.ask(target, q, conversation_id=conversation)
                conversation = reply.conversation_id  # the questions of one call are one conversation
                _line(reply.model_dump())
        return
    if Path(target).is_dir():
        from tunelab.apps.assistant.router import Assistant

        for answer in Assistant.load(target).answer(question):
            _line(answer.to_dict())
        return
    from tunelab.apps.assistant.desk import Desk

    desk = Desk(_store(db))
    for q in question:
        reply = desk.ask(target, q, conversation)
        conversation = reply.conversation_id
        _line(reply.to_dict())


def _line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


@assistant_app.command("eval")
def evaluate(
    folder: Annotated[str, Arg(help="An assistant folder.")],
    data: Annotated[str | None, Opt("--data", help="CSV text,label (label: intent, FAQ id or out_of_scope). "
                                                   "Without it: the calibration results of the build.")] = None,
    oos_share: Annotated[float | None, Opt(help="Report the hand-off precision for traffic with this share of "
                                                "out-of-scope questions (default: the data's own).")] = None,
    as_json: AsJson = False,
) -> None:
    """In-scope accuracy, out-of-scope precision and recall, FAQ MRR and recall@k; per out-of-scope score its
    AUROC, AUPRC and false-positive rate at 95% recall, and the threshold that decides."""
    from tunelab.apps.assistant.evaluation import evaluate_assistant, read_labelled
    from tunelab.apps.assistant.layout import load_assistant_manifest
    from tunelab.apps.assistant.router import Assistant
    from tunelab.errors import UsageError

    if oos_share is not None and not 0 < oos_share < 1:
        raise UsageError(f"--oos-share must be between 0 and 1 (exclusive), got {oos_share}")
    if data is None:
        calibration = load_assistant_manifest(Path(folder)).calibration
        return _print(calibration) if as_json else _show_metrics("calibration (held-out)", calibration["metrics"])
    texts, labels = read_labelled(data)
    result = evaluate_assistant(Assistant.load(folder), texts, labels, oos_share=oos_share).to_dict()
    return _print(result) if as_json else _show_metrics(data, result)


def _show_metrics(title: str, m: dict[str, Any]) -> None:
    typer.echo(f"{title}: {m['in_scope']} in-scope, {m['out_of_scope']} out-of-scope questions")
    typer.echo(f"  in-scope accuracy  {m['in_scope_accuracy']:.4f}")
    typer.echo(f"  out-of-scope precision {m['oos_precision']:.4f}  recall {m['oos_recall']:.4f}  "
               f"(hand-off rate {m['handoff_rate']:.4f})")
    if m.get("faq_mrr") is not None:
        at = ", ".join(f"@{k} {v:.4f}" for k, v in m["faq_recall_at"].items())
        typer.echo(f"  FAQ retrieval ({m['faq_questions']} questions): MRR {m['faq_mrr']:.4f}, recall {at}")
    thresholds = m.get("thresholds") or {}
    if thresholds.get("ood") is not None:
        typer.echo(f"  hand-off: {m.get('ood_method')} out-of-scope score >= {thresholds['ood']:.6g}"
                   + (f" (precision for an out-of-scope share of {m['oos_share']})" if m.get("oos_share") else ""))
    for name, d in (m.get("detection") or {}).items():
        typer.echo(f"  {name:<12} AUROC {d['auroc']:.4f}  AUPRC {d['auprc']:.4f}  FPR@95 {d['fpr_at_95']:.4f}")


@assistant_app.command("register")
def register(
    folder: Annotated[str, Arg(help="A built assistant folder.")],
    name: Annotated[str, Opt("--name", "-n", help="Assistant name.")],
    db: Db = None,
) -> None:
    """Register a built folder as the next version of NAME (servers answer with the newest version)."""
    from tunelab.apps.assistant.store import AssistantStore

    _print(AssistantStore(_store(db)).register(folder, name).to_dict())


@assistant_app.command("list")
def list_assistants(db: Db = None) -> None:
    """Registered assistants and their versions."""
    from tunelab.apps.assistant.store import AssistantStore

    _print([v.to_dict() for v in AssistantStore(_store(db)).list()])


@assistant_app.command("handoffs")
def handoffs(
    name: Annotated[str, Arg(help="Assistant name.")],
    status: Annotated[str, Opt(help="open, resolved or all.")] = "open",
    limit: Annotated[int, Opt(help="At most this many.")] = 100,
    server: Server = None,
    api_key: ApiKey = None,
    db: Db = None,
) -> None:
    """The hand-off queue: questions the assistant passed to a human, with its top 3 suggestions."""
    if server:
        from tunelab.client import Client

        with Client(server, api_key) as client:
            return _print([h.model_dump() for h in client.handoffs(name, status=status, limit=limit)])
    from dataclasses import asdict

    from tunelab.apps.assistant.store import AssistantStore

    rows = AssistantStore(_store(db)).handoffs(name, None if status == "all" else status, limit)
    _print([asdict(h) for h in rows])


@assistant_app.command("resolve")
def resolve(
    name: Annotated[str, Arg(help="Assistant name.")],
    handoff_id: Annotated[int, Arg(help="Hand-off id.")],
    label: Annotated[str, Opt(help="The right intent name, FAQ id, or out_of_scope.")],
    reply: Annotated[str | None, Opt(help="What the human answered.")] = None,
    server: Server = None,
    api_key: ApiKey = None,
    db: Db = None,
) -> None:
    """Resolve a hand-off; it becomes a training example for the next `assistant build --name NAME`."""
    if server:
        from tunelab.client import Client

        with Client(server, api_key) as client:
            return _print(client.resolve_handoff(name, handoff_id, label, reply=reply).model_dump())
    from dataclasses import asdict

    from tunelab.apps.assistant.desk import Desk

    _print(asdict(Desk(_store(db)).resolve(name, handoff_id, label, reply=reply, actor="cli")))
