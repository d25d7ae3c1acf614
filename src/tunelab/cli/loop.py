"""`tunelab loop ...`: the closed loop: `drift` (is traffic still like the training data?) and `suggest` (what to
label next)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunelab.cli.service import AsJson, Db, Opt, _store

loop_app = typer.Typer(help="The closed loop: retrain on corrections and promote only a better model (run, "
                            "history, rollback), drift checks, and what to label next (suggest).",
                       no_args_is_help=True)
ModelArg = Annotated[str, typer.Argument(help="A registered model: NAME, NAME@VERSION or NAME@ALIAS.")]
TextsFile = Annotated[str | None, Opt("--texts", help="Read the texts from this file (CSV/JSONL with a text column, "
                                                      "or one per line) instead of the prediction log.")]




def _predictor(run_path: str) -> Any:
    from tunelab.inference.predictor import Predictor

    return Predictor.load(run_path)


def _file_texts(path: str) -> list[str]:
    from tunelab.cli.output import read_texts

    return read_texts(None, path, None, None)


@loop_app.command("drift")
def drift(
    model: ModelArg,
    window: Annotated[int, Opt("--window", "-w", help="How many of the newest logged predictions to check.")] = 500,
    texts: TextsFile = None,
    alpha: Annotated[float, Opt(help="Significance level of every check.")] = 0.01,
    alert_via: Annotated[str | None, Opt("--alert-via", help="Deliver a drift alert through this monitor's "
                                                             "webhook (else it is only recorded).")] = None,
    no_alert: Annotated[bool, Opt("--no-alert", help="Only print the report; record no alert.")] = False,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Compare recent inputs with the training data: embeddings (MMD), length, unknown tokens, confidence and
    predicted labels. Exit code 0 whatever the verdict; drift raises an alert (see --alert-via)."""
    from tunelab.loop.alerts import raise_drift_alert
    from tunelab.loop.drift import DriftThresholds, check_drift, run_reference
    from tunelab.loop.history import append_history
    from tunelab.loop.traffic import recent_traffic, resolve_model

    if window < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--window")
    if not 0 < alpha < 1:
        raise typer.BadParameter("must be between 0 and 1", param_hint="--alpha")
    store = _store(db)
    if texts:
        version, window_texts, skipped = resolve_model(store, model), _file_texts(texts)[-window:], 0
    else:
        traffic = recent_traffic(store, model, limit=window)
        version, window_texts, skipped = traffic.version, [t.text for t in traffic.texts], traffic.skipped
    predictor = _predictor(version.run_path)
    report = check_drift(predictor, window_texts, run_reference(predictor), model=version.model,
                         version=version.version, limits=DriftThresholds(alpha=alpha), skipped=skipped)
    correct, judged = store.feedback_counts(version.model).get(version.version, (0, 0))
    report = _with_feedback(report, correct, judged)
    if report.checks:
        append_history(Path(version.run_path), report)
    outcome = None if no_alert else raise_drift_alert(store.engine, report, via=alert_via)
    if as_json:
        payload = {**report.to_dict(), "alert": None if outcome is None else outcome.__dict__}
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    _show_drift(report, outcome)


def _with_feedback(report: Any, correct: int, judged: int) -> Any:
    from dataclasses import replace

    return replace(report, feedback_accuracy=round(correct / judged, 4) if judged else None, feedback_judged=judged)


def _show_drift(report: Any, outcome: Any) -> None:
    print(f"{report.model}@{report.version}: {report.verdict.upper()}  ({report.window} recent texts vs "
          f"{report.reference} training texts{f'; {report.skipped} logged without text' if report.skipped else ''})")
    for note in report.notes:
        print(f"  note: {note}")
    for c in report.checks:
        p = "-" if c.p_value is None else f"{c.p_value:.4f}"
        flag = "DRIFT" if c.drifted else "ok"
        print(f"  {c.name:<17} {flag:<5} stat {c.statistic:<10.4f} p {p:<7} (alpha {c.alpha:g}; effect "
              f"{c.effect:.4f}, min {c.min_effect:g})  {c.detail}")
    if report.feedback_judged:
        print(f"  feedback accuracy {report.feedback_accuracy:.3f} over {report.feedback_judged} judged predictions")
    if outcome is not None and outcome.alert_id is not None:
        print(f"alert {outcome.alert_id} {outcome.status} (monitor {outcome.monitor!r})")
    elif outcome is not None and outcome.status == "cooldown":
        print("alert not repeated: one was raised for this version within the cool-down")


@loop_app.command("suggest")
def suggest(
    model: ModelArg,
    n: Annotated[int, Opt("-n", "--n", help="How many texts to suggest.")] = 200,
    output: Annotated[str | None, Opt("--output", "-o", help="Write the batch as CSV (text,label,...; fill in "
                                                             "`label`).")] = None,
    texts: TextsFile = None,
    pool: Annotated[int, Opt(help="How many of the newest unlabelled logged predictions to choose from.")] = 5000,
    strategy: Annotated[str, Opt(help="Uncertainty: margin or entropy.")] = "margin",
    clusters: Annotated[int | None, Opt(help="k-means clusters for diversity (default: about n/4).")] = None,
    candidates: Annotated[float | None, Opt(help="Draw the batch from this many times n of the most uncertain "
                                                 "texts, clustered for diversity (default: 2).")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """The texts a label would teach the model most: uncertain ones, spread across embedding clusters."""
    from tunelab.loop.suggest import suggest as choose
    from tunelab.loop.suggest import write_batch_csv
    from tunelab.loop.traffic import recent_traffic, resolve_model

    if n < 1:
        raise typer.BadParameter("must be at least 1", param_hint="-n")
    if candidates is not None and candidates < 1:
        raise typer.BadParameter("must be at least 1 (times n)", param_hint="--candidates")
    store = _store(db)
    if texts:
        version, pool_texts, ids = resolve_model(store, model), list(dict.fromkeys(_file_texts(texts))), None
    else:
        traffic = recent_traffic(store, model, limit=pool, unlabelled=True, dedupe=True)
        version = traffic.version
        pool_texts, ids = [t.text for t in traffic.texts], [t.prediction_id for t in traffic.texts]
    batch = choose(_predictor(version.run_path), pool_texts, n, ids=ids, strategy=strategy, clusters=clusters,
                   candidates=candidates)
    if output:
        write_batch_csv(Path(output), batch)
    if as_json:
        sys.stdout.write(json.dumps([s.__dict__ for s in batch], indent=2, ensure_ascii=False) + "\n")
    elif not output:
        for s in batch:
            print(f"{s.rank:>4}  {s.text[:80]!r}  {s.reason}")
    if output or not batch:
        print(f"{len(batch)} of {len(pool_texts)} texts suggested for {version.model}@{version.version}"
              + (f" -> {output}" if output else ""), file=sys.stderr)
