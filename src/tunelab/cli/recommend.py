"""`tunelab recommend ...`: build a recommender from interactions and item texts, evaluate it, ask it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

Opt = typer.Option
Arg = typer.Argument
AsJson = Annotated[bool, Opt("--json", help="Print JSON.")]
K = Annotated[int, Opt("-k", help="How many items.")]
Filters = Annotated[list[str] | None, Opt("--filter", help="FIELD=VALUE on item fields (repeatable).")]

recommend_app = typer.Typer(help="Recommender: fine-tune the encoder on what users did next; rank, explain.",
                            no_args_is_help=True)


@recommend_app.command("build")
def build(
    interactions: Annotated[str, Opt("--interactions", help="user_id,item_id[,timestamp,event,value] "
                                                           "(CSV/TSV/JSONL/Parquet; MovieLens ratings.csv as is).")],
    items: Annotated[str, Opt("--items", help="item_id plus text fields (MovieLens movies.csv as is).")],
    output: Annotated[str, Opt("--output", "-o", help="Build folder to create.")],
    tags: Annotated[str | None, Opt(help="Optional tags file (item id, tag) added to item text.")] = None,
    text_fields: Annotated[str | None, Opt(help="Item columns the text is made of, e.g. title,genres.")] = None,
    positive: Annotated[str, Opt(help="What counts as positive: 'rating>=4', 'event in [click,purchase]', "
                                      "'all'.")] = "all",
    event_weights: Annotated[str | None, Opt(help="Weights per event, e.g. purchase=3,click=1.")] = None,
    split: Annotated[str, Opt(help="last:N (each user's last N positives are test) or time:Q.")] = "last:1",
    test: Annotated[str | None, Opt(help="A test file used as given instead of the split's test part.")] = None,
    events: Annotated[list[str] | None, Opt("--events", help="More interaction files (e.g. logged clicks).")] = None,
    from_registry: Annotated[str | None, Opt(help="Also train on the events the server logged for this "
                                                  "recommender (written to OUTPUT/registry-events.csv).")] = None,
    db: Annotated[str | None, Opt(help="Registry database URL for --from-registry (default: TuneLab's).")] = None,
    user_column: Annotated[str | None, Opt(help="User id column.")] = None,
    item_column: Annotated[str | None, Opt(help="Item id column.")] = None,
    model: Annotated[str, Opt(help="'minilm' (bundled) or a local encoder folder.")] = "minilm",
    epochs: Annotated[int, Opt(help="Epochs over the next-item pairs.")] = 1,
    max_steps: Annotated[int | None, Opt(help="Stop after this many steps.")] = None,
    batch_size: Annotated[int, Opt(help="Pairs per step (in-batch negatives).")] = 64,
    lr: Annotated[float, Opt(help="Peak learning rate.")] = 3e-5,
    train_layers: Annotated[int, Opt(help="Top encoder layers fine-tuned (0: all).")] = 2,
    cold_slots: Annotated[int, Opt(help="Places at the end of every top k kept for the best new (never liked) "
                                        "items, if validation shows the hybrid still beats each signal alone.")] = 1,
    strict: Annotated[bool, Opt(help="Users/items with no positive are errors, not warnings.")] = False,
    resume: Annotated[bool, Opt(help="Continue training from the folder's last checkpoint.")] = False,
    precision: Annotated[str, Opt(help="auto, fp32 or bf16.")] = "auto",
    seed: Annotated[int, Opt(help="Seed.")] = 42,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress output.")] = False,
    as_json: AsJson = False,
) -> None:
    """Validate the data, split it by time, fine-tune the two towers, fit baselines and the blender, evaluate."""
    from tunelab.apps.recommender.build import BuildOptions, run_build
    from tunelab.apps.recommender.dataset import DataOptions
    from tunelab.apps.recommender.evaluation import format_table
    from tunelab.apps.recommender.rules import PositiveRule, parse_event_weights
    from tunelab.apps.recommender.split import SplitSpec
    from tunelab.apps.recommender.train import TowerConfig

    data = DataOptions(user_column=user_column, item_column=item_column,
                       text_fields=tuple(f.strip() for f in (text_fields or "").split(",") if f.strip()),
                       positive=PositiveRule.parse(positive), event_weights=parse_event_weights(event_weights),
                       strict=strict)
    options = BuildOptions(data=data, split=SplitSpec.parse(split), model=model, train_layers=train_layers,
                           tower=TowerConfig(epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr,
                                             seed=seed), precision=precision, cold_slots=cold_slots,
                           show_progress=not quiet)
    extra = tuple(Path(e) for e in events or ())
    if from_registry:
        extra += (_registry_events(from_registry, db, Path(output)),)
    summary = run_build(Path(interactions), Path(items), Path(output), options, tags=Path(tags) if tags else None,
                        test_file=Path(test) if test else None, extra=extra, resume=resume)
    if as_json:
        return _print({"folder": str(summary.folder), "evaluation": summary.table, "timings": summary.timings,
                       "counts": summary.counts})
    typer.echo(format_table(summary.table))
    typer.echo(f"recommender saved: {summary.folder}")


def _registry_events(name: str, db: str | None, output: Path) -> Path:
    """The events logged for recommender `name`, as an interaction file in the build folder."""
    from tunelab.apps.recommender.registry import RecommenderStore
    from tunelab.registry import Store

    path = output / "registry-events.csv"
    output.mkdir(parents=True, exist_ok=True)
    RecommenderStore(Store(db)).export_events(name, path)
    return path


@recommend_app.command("events")
def export_events(name: Annotated[str, Arg(help="A registered recommender.")],
                  output: Annotated[str, Opt("--output", "-o", help="CSV file to write.")],
                  db: Annotated[str | None, Opt(help="Registry database URL (default: TuneLab's).")] = None) -> None:
    """Export the events the server logged (impressions, clicks...) as an interaction file for `build --events`."""
    from tunelab.apps.recommender.registry import RecommenderStore
    from tunelab.registry import Store

    count = RecommenderStore(Store(db)).export_events(name, Path(output))
    typer.echo(f"{count} events written to {output}")


@recommend_app.command("eval")
def evaluate(folder: Annotated[str, Arg(help="A build folder.")],
             test: Annotated[str | None, Opt(help="A test file (as given) instead of the build's split.")] = None,
             as_json: AsJson = False) -> None:
    """The evaluation table of the build (or, with --test, ranked again against that file)."""
    from tunelab.apps.recommender.evaluation import format_table
    from tunelab.apps.recommender.rescore import evaluate_folder

    table = evaluate_folder(Path(folder), Path(test) if test else None)
    return _print(table) if as_json else typer.echo(format_table(table))


@recommend_app.command("user")
def user(folder: Annotated[str, Arg(help="A build folder.")], user_id: Annotated[str, Arg(help="User id.")],
         k: K = 10, include_seen: Annotated[bool, Opt(help="Also recommend items the user had.")] = False,
         filters: Filters = None) -> None:
    """Recommendations for a known user, each with its reason."""
    from tunelab.apps.recommender.recommender import Recommender

    _show(Recommender.load(folder).for_user(user_id, k, not include_seen, _filters(filters)))


@recommend_app.command("similar")
def similar(folder: Annotated[str, Arg(help="A build folder.")], item_id: Annotated[str, Arg(help="Item id.")],
            k: K = 10, filters: Filters = None) -> None:
    """Items closest to ITEM by the fine-tuned text vectors."""
    from tunelab.apps.recommender.recommender import Recommender

    _show(Recommender.load(folder).similar(item_id, k, _filters(filters)))


@recommend_app.command("query")
def query(folder: Annotated[str, Arg(help="A build folder.")], text: Annotated[str, Arg(help="Free text.")],
          k: K = 10, liked: Annotated[list[str] | None, Opt("--liked", help="Liked item ids instead of text "
                                                                         "(repeatable).")] = None,
          filters: Filters = None) -> None:
    """Cold start: recommendations for a free-text query (or, with --liked, a few liked items)."""
    from tunelab.apps.recommender.recommender import Recommender

    recommender = Recommender.load(folder)
    found = recommender.for_liked(liked, k, True, _filters(filters)) if liked else recommender.for_query(
        text, k, _filters(filters))
    _show(found)


def _filters(values: list[str] | None) -> dict[str, str]:
    from tunelab.errors import UsageError

    out = {}
    for value in values or ():
        name, sep, wanted = value.partition("=")
        if not sep:
            raise UsageError(f"--filter {value!r} is not FIELD=VALUE")
        out[name.strip()] = wanted.strip()
    return out


def _show(found: list[Any]) -> None:
    from dataclasses import asdict

    for rec in found:
        sys.stdout.write(json.dumps(asdict(rec), ensure_ascii=False) + "\n")


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
