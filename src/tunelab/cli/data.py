"""`tunelab data forget | audit`: erase what is stored for a caller or a conversation; read the audit log."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated

import typer

from tunelab.cli.service import AsJson, Db, Opt, _store

data_app = typer.Typer(help="Personal data: erase a caller's or a conversation's stored data (with an audit "
                            "entry); list the audit log of admin actions.", no_args_is_help=True)


@data_app.command("forget")
def forget(
    caller: Annotated[str | None, Opt("--caller", help="The caller id given with predictions (caller_id).")] = None,
    conversation: Annotated[str | None, Opt("--conversation", help="An assistant conversation id.")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Delete every stored prediction, feedback, assistant turn and hand-off of a caller or a conversation."""
    from tunelab.privacy.erasure import forget as erase

    report = erase(_store(db).engine, caller=caller, conversation=conversation, actor="cli")
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        return
    parts = ", ".join(f"{n} {table}" for table, n in report.deleted.items() if n) or "nothing was stored"
    print(f"forgot the {report.subject} (sha256 {report.subject_hash[:16]}...): {parts}; recorded in the audit log")


@data_app.command("audit")
def audit_list(
    limit: Annotated[int, Opt(help="How many entries, newest first.")] = 50,
    action: Annotated[str | None, Opt(help="Only this action (key.create, alias.set, data.forget, ...).")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """The audit log: who did what, on what, when."""
    from tunelab.registry.audit import entries

    found = entries(_store(db).engine, limit=max(1, min(limit, 10_000)), action=action)
    if as_json:
        sys.stdout.write(json.dumps([asdict(e) for e in found], indent=2, ensure_ascii=False) + "\n")
        return
    for e in found:
        details = ", ".join(f"{k} {v}" for k, v in sorted(e.details.items()))
        print(f"{e.id:>6} {e.at} {e.actor:<24} {e.action:<16} {e.target}  {details}")
