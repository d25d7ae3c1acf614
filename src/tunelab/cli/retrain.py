"""`tunelab loop run | history | rollback`: retrain a model on its corrections and promote only a better one."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer

from tunelab.cli.loop import loop_app  # one `tunelab loop` app: drift and suggest are in cli/loop.py
from tunelab.cli.service import AsJson, Db, Opt, _store


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")




@loop_app.command("run")
def run(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    policy: Annotated[str, Opt("--policy", "-p", help="Loop policy YAML (see `tunelab.loop.policy`).")] = "loop.yaml",
    dry_run: Annotated[bool, Opt("--dry-run", help="Build and write the merged data set, then stop.")] = False,
    if_due: Annotated[bool, Opt("--if-due", help="Only when the policy's trigger says a retrain is due.")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No training progress.")] = False,
    settle_now: Annotated[bool, Opt("--settle-now", help="With a shadow or canary stage open: decide now on the "
                                    "live traffic seen so far (same rule).")] = False,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Merge corrections into the training data, retrain, compare on the golden set, promote or refuse."""
    from tunelab.loop.policy import load_policy
    from tunelab.loop.run import run_loop

    outcome = run_loop(_store(db), load_policy(policy, model), dry_run=dry_run, if_due=if_due,
                       show_progress=not quiet, settle_now=settle_now)
    if as_json:
        _print({"folder": str(outcome.folder) if outcome.folder else None, "due": asdict(outcome.due),
                "counts": asdict(outcome.counts) if outcome.counts else None, "dry_run": outcome.dry_run,
                "decision": outcome.decision.to_dict() if outcome.decision else None,
                "stage": {"id": outcome.stage.stage.id, "kind": outcome.stage.stage.kind, "seen": outcome.stage.seen,
                          "requests": outcome.stage.stage.requests, "ready": outcome.stage.ready}
                if outcome.stage else None})
        return
    if outcome.stage is not None:
        _show_stage(model, outcome)
        return
    if outcome.counts is None:
        print(f"{model}: not due ({outcome.due.why})")
        return
    c = outcome.counts
    golden = c.golden_excluded_originals + c.golden_excluded_corrections
    print(f"{model}: {c.original_rows} original rows, {c.corrections_used} correction(s) used "
          f"({c.replaced_originals} replaced an original label), {golden} golden text(s) left out, "
          f"{c.hash_only_skipped} without a logged text; data in {outcome.folder}/data")
    if outcome.decision is not None:
        d, s = outcome.decision, outcome.decision.summary
        print(f"golden set ({s['golden_examples']}): accuracy {s['champion_accuracy']:.4f} -> "
              f"{s['challenger_accuracy']:.4f}, F1 {s['champion_f1']:.4f} -> {s['challenger_f1']:.4f}, "
              f"{s['test']} p = {s['p_value']:.4g} ({s['detail']})")
        print(f"{d.decision.upper()}: challenger v{d.challenger_version} vs champion v{d.champion_version}: {d.reason}")
        print(f"report: {d.report_path}")


def _show_stage(model: str, outcome: Any) -> None:
    """An open stage: its progress; a settled one: the decision."""
    if outcome.decision is None:
        print(f"{model}: in {outcome.stage.why}; nothing trained while the stage is open "
              "(`--settle-now` decides on what was seen)")
        return
    d, s = outcome.decision, outcome.decision.summary
    agreement = s.get("shadow_agreement")
    print(f"{model}: {outcome.stage.why}" + (f", agreement {100 * agreement:.1f}%" if agreement is not None else ""))
    print(f"{d.decision.upper()}: challenger v{d.challenger_version} vs champion v{d.champion_version}: {d.reason}")
    print(f"report: {d.report_path}")


@loop_app.command("history")
def history(model: str, db: Db = None, as_json: AsJson = False,
            limit: Annotated[int, Opt(help="Newest decisions to show.")] = 20) -> None:
    """The loop's decisions for a model, newest first."""
    from tunelab.loop.records import list_decisions

    store = _store(db)
    store.get_model(model)
    rows = list_decisions(store, model, limit)
    if as_json:
        _print([r.to_dict() for r in rows])
        return
    if not rows:
        print(f"{model}: no loop decisions yet; run `tunelab loop run {model} --policy loop.yaml`")
    for r in rows:
        s = r.summary
        back = f" (rolled back {r.rolled_back_at:%Y-%m-%d %H:%M})" if r.rolled_back_at else ""
        print(f"#{r.id} {r.created_at:%Y-%m-%d %H:%M} {r.decision}{back} v{r.challenger_version} vs "
              f"v{r.champion_version}: golden accuracy {s.get('champion_accuracy')} -> {s.get('challenger_accuracy')}, "
              f"p {s.get('p_value', float('nan')):.4g}; {r.reason}")


@loop_app.command("rollback")
def rollback_cmd(model: str, alias: Annotated[str, Opt(help="Alias to move back.")] = "production",
                 db: Db = None) -> None:
    """Undo the last promotion: move the alias back to the version it pointed at before."""
    from tunelab.loop.records import rollback

    info, row = rollback(_store(db), model, alias, actor="cli")
    undone = f" (undid loop decision #{row.id})" if row else ""
    print(f"{model}@{alias} -> version {info.version} (rolled back){undone}")
