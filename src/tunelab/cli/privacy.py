"""`tunelab redact FILE -o OUT`: redact personal data in a training file and report what was found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tunelab.cli.output import echo

Opt = typer.Option


def redact(
    input_file: Annotated[str, typer.Argument(help="CSV, TSV or JSONL file to redact.")],
    output: Annotated[str, Opt("--output", "-o", help="Where to write the redacted file (written atomically).")],
    types: Annotated[str, Opt(help="Comma-separated types: email, phone, card, iban, ip, national_id, "
                                   "date_of_birth, address, person, organisation, location; or all.")] = "all",
    mode: Annotated[str, Opt(help="mask ([EMAIL]), hash ([EMAIL:1a2b3c4d], salted) or drop.")] = "mask",
    columns: Annotated[str, Opt(help="Comma-separated text columns (JSONL: keys) to redact.")] = "text",
    ner_model: Annotated[str | None, Opt(help="An NER run folder for person/organisation/location names.")] = None,
    ner_model_multilingual: Annotated[str | None, Opt(help="A multilingual NER run folder (`make "
                                                          "ner-model-multilingual`) for texts in scripts other "
                                                          "than Latin (Chinese...); with --ner-model, each text "
                                                          "goes to one of the two by its script.")] = None,
    format: Annotated[str | None, Opt(help="csv, tsv or jsonl (default: from the file name).")] = None,
    salt_file: Annotated[str | None, Opt(help="Salt for --mode hash (default: privacy-salt in TuneLab's home; "
                                              "created once, mode 0600).")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Find and redact personal data in the text columns of a training file.

    Prints what was found per column and type, and writes the same report as OUT.pii-report.json."""
    from tunelab.artifacts.files import write_json_atomic
    from tunelab.privacy import build_redactor
    from tunelab.privacy.files import redact_file

    redactor = build_redactor(types, mode, ner_model=ner_model, salt_file=salt_file,
                              ner_model_multilingual=ner_model_multilingual)
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    report = redact_file(input_file, output, redactor, columns=wanted, format=format)
    report_path = Path(output).with_name(Path(output).name + ".pii-report.json")
    write_json_atomic(report_path, report.to_dict())
    if as_json:
        echo(json.dumps(report.to_dict(), indent=2))
        return
    done = {"mask": "masked", "hash": "hashed", "drop": "dropped"}.get(mode, mode)
    echo(f"{report.rows} rows read from {report.source}; {report.total} finding(s) {done} into {report.output}")
    for column, counts in report.found.items():
        shown = ", ".join(f"{name} {n}" for name, n in counts.items()) or "nothing found"
        echo(f"  {column}: {shown}")
    if not redactor.policy.needs_ner:
        echo("  names (person, organisation, location) were not looked for: they need --ner-model RUN")
    echo(f"report: {report_path}")
