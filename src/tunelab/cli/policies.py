"""`tunelab privacy policy set | show | list | delete`: a model's, assistant's or monitor's own redaction policy."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from tunelab.cli.service import AsJson, Db, Opt, _store
from tunelab.errors import UsageError

if TYPE_CHECKING:
    from tunelab.privacy.policies import TargetPolicy

privacy_app = typer.Typer(help="Personal data in stored texts: per-target redaction policies.", no_args_is_help=True)
policy_app = typer.Typer(help="A model's, an assistant's or a monitor's own redaction policy, replacing the "
                              "server's for the texts stored on its behalf (each write is in the audit log).",
                         no_args_is_help=True)
privacy_app.add_typer(policy_app, name="policy")
Kind = Annotated[str, typer.Argument(help="model, assistant or monitor.")]
Name = Annotated[str, typer.Argument(help="The registered model, assistant or monitor name.")]


@policy_app.command("set")
def set_policy(
    kind: Kind,
    name: Name,
    redact: Annotated[str, Opt("--redact", help="Comma-separated types (email, phone, card, ..., or all); "
                                                "'' stores this target's texts as sent.")],
    mode: Annotated[str, Opt(help="mask ([EMAIL]), hash ([EMAIL:1a2b3c4d], salted) or drop.")] = "mask",
    config: Annotated[str | None, Opt("--config", "-c", help="The server's YAML settings file (its NER model "
                                                             "decides whether names can be redacted).")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Set (or replace) a target's policy."""
    from tunelab.privacy.policies import PolicyStore, check_kind
    from tunelab.privacy.redactor import MODES, policy_for
    from tunelab.serving.settings import load_settings

    check_kind(kind)
    if mode not in MODES:
        raise UsageError(f"--mode: must be one of {', '.join(MODES)}, not {mode!r}")
    settings = load_settings(config)
    try:  # `all` and the name types read as the server reads them, with or without its NER model
        policy = policy_for(redact, mode, has_ner=settings.has_ner)
    except UsageError as error:
        hint = "set privacy_ner_model in the server's settings (--config or TUNELAB_PRIVACY_NER_MODEL)" \
            if "NER model" in error.message else error.hint
        raise UsageError(f"--redact: {error.message}", hint=hint) from None
    target = PolicyStore(_store(db).engine).set(kind, name, policy, actor="cli")
    _show(target, as_json)


@policy_app.command("show")
def show_policy(kind: Kind, name: Name, db: Db = None, as_json: AsJson = False) -> None:
    """A target's own policy (exit 2 when it has none: the server's applies)."""
    from tunelab.privacy.policies import PolicyStore

    _show(PolicyStore(_store(db).engine).require(kind, name), as_json)


@policy_app.command("list")
def list_policies(db: Db = None, as_json: AsJson = False) -> None:
    """Every target with its own policy."""
    from tunelab.privacy.policies import PolicyStore

    for target in PolicyStore(_store(db).engine).list():
        _show(target, as_json)


@policy_app.command("delete")
def delete_policy(kind: Kind, name: Name, db: Db = None, as_json: AsJson = False) -> None:
    """Back to the server's policy for this target."""
    from tunelab.privacy.policies import PolicyStore

    _show(PolicyStore(_store(db).engine).delete(kind, name, actor="cli"), as_json)


def _show(target: TargetPolicy, as_json: bool) -> None:
    data = asdict(target)
    if as_json:
        print(json.dumps({**data, "policy": {**data["policy"], "types": list(data["policy"]["types"])}}))
        return
    types = ",".join(data["policy"]["types"]) or "(none: stored as sent)"
    print(f"{data['kind']} {data['name']}: redact {types}, mode {data['policy']['mode']} ({data['updated_at']})")
