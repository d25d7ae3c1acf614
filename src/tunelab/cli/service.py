"""CLI for the service side: `serve`, `models ...`, `keys ...`, `ab ...`. They work on the registry database
directly (`--db`, default `TUNELAB_DB` or ~/.tunelab/registry.db), so they need no running server."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

Opt = typer.Option
Db = Annotated[str | None, Opt("--db", help="Registry database URL (sqlite:///path or postgresql://...). "
                                            "Default: $TUNELAB_DB or ~/.tunelab/registry.db.")]
AsJson = Annotated[bool, Opt("--json", help="Print JSON.")]

models_app = typer.Typer(help="Register runs as model versions; move aliases (promote, rollback); A/B splits.",
                         no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (printed once, stored hashed), list with usage, revoke.",
                       no_args_is_help=True)
ab_app = typer.Typer(help="A/B tests between versions of a model.", no_args_is_help=True)


def _store(db: str | None) -> Any:
    from tunelab.registry import Store

    return Store(db)


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def serve(
    db: Db = None,
    host: Annotated[str | None, Opt(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, Opt(help="Port (default 8000).")] = None,
    no_auth: Annotated[bool, Opt("--no-auth", help="No API keys: local use only (loopback), with a warning.")] = False,
    config: Annotated[str | None, Opt("--config", "-c", help="YAML settings file.")] = None,
    max_batch_size: Annotated[int | None, Opt(help="Texts per forward pass (micro-batching).")] = None,
    max_wait_ms: Annotated[float | None, Opt(help="How long a request waits for others to batch with.")] = None,
    max_models: Annotated[int | None, Opt(help="Model versions kept in memory (LRU).")] = None,
    precision: Annotated[str | None, Opt(help="auto, fp32 or bf16.")] = None,
    backend: Annotated[str | None, Opt(help="auto (fastest artifact that passed its gate), torch, onnx-fp32, "
                                            "onnx-int8...")] = None,
    log_text: Annotated[bool | None, Opt("--log-text/--hash-text", help="Log texts, or only their SHA-256.")] = None,
    retention_days: Annotated[float | None, Opt(help="Days to keep predictions without feedback.")] = None,
    rate_per_s: Annotated[float | None, Opt(help="Default per-key rate limit (requests/s; 0: none).")] = None,
    workers: Annotated[int, Opt(help="Worker processes, each with its own models and batcher, the cores shared "
                                     "out between them (more than one needs a PostgreSQL registry).")] = 1,
    log_level: Annotated[str | None, Opt(help="debug, info, warning, error.")] = None,
    access_log: Annotated[bool, Opt("--access-log", help="Log every request line.")] = False,
) -> None:
    """Serve registered models over HTTP: /v1 API (schema at /openapi.json), dashboard at /, Prometheus at /metrics."""
    import dataclasses
    import os

    import uvicorn

    from tunelab.registry.db import normalise_url, redact
    from tunelab.serving import load_settings
    from tunelab.serving.factory import SETTINGS_ENV, settings_json, worker_threads

    settings = load_settings(config, db=db, host=host, port=port, auth=False if no_auth else None,
                             max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_models=max_models,
                             precision=precision, backend=backend, log_text=log_text, retention_days=retention_days,
                             rate_per_s=rate_per_s, log_level=log_level)
    settings = dataclasses.replace(settings, db=normalise_url(settings.db))
    workers = check_workers(workers, settings.db)
    threads = worker_threads(settings.threads, workers, len(os.sched_getaffinity(0)))
    settings = dataclasses.replace(settings, threads=threads if workers > 1 else settings.threads)
    print(f"TuneLab serving on http://{settings.host}:{settings.port}  (registry {redact(settings.db)}, "
          f"auth {'on' if settings.auth else 'OFF'}, {workers} worker(s))", file=sys.stderr)
    os.environ[SETTINGS_ENV] = settings_json(settings)  # every worker process reads the same settings
    try:
        uvicorn.run("tunelab.serving.factory:app", factory=True, host=settings.host, port=settings.port,
                    log_level=settings.log_level, access_log=access_log, workers=workers, loop="auto", http="auto",
                    timeout_keep_alive=int(settings.timeout_keep_alive_s), server_header=False,
                    limit_concurrency=settings.limit_concurrency or None)
    finally:
        os.environ.pop(SETTINGS_ENV, None)


def check_workers(workers: int, db: str) -> int:
    """`workers`, or UsageError: at least 1, and more than one only on PostgreSQL. SQLite is refused for several
    workers: they would serialise every write on one file lock, and the per-key rate limits (kept in each
    process's memory on SQLite) would allow N times the limit."""
    from tunelab.errors import UsageError

    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and not db.startswith("postgresql"):
        raise UsageError(f"--workers {workers} needs a PostgreSQL registry (this one is SQLite)",
                         hint="run one worker on SQLite, or point --db / TUNELAB_DB at postgresql://...; several "
                              "SQLite writers queue on one file lock and each would keep its own rate limits")
    return workers


@models_app.command("register")
def models_register(
    run: Annotated[str, typer.Argument(help="A finished run folder.")],
    name: Annotated[str, Opt("--name", help="Model name (lower-case letters, digits, . _ -).")],
    alias: Annotated[str | None, Opt(help="Also point this alias at the new version (e.g. production).")] = None,
    description: Annotated[str, Opt(help="Free text.")] = "",
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Register a run folder as the next version of a named model."""
    info = _store(db).register(run, name, alias=alias, description=description, actor="cli")
    if as_json:
        _print(info.to_dict())
    else:
        tags = f" ({', '.join(info.aliases)})" if info.aliases else ""
        print(f"registered {info.model} version {info.version}{tags} <- {info.run_path}")


@models_app.command("list")
def models_list(db: Db = None, as_json: AsJson = False) -> None:
    """Models with their versions, aliases and splits."""
    models = _store(db).list_models()
    if as_json:
        _print([m.to_dict() for m in models])
        return
    if not models:
        print("no models registered; add one with `tunelab models register RUN --name NAME`")
    for m in models:
        aliases = ", ".join(f"{a}->{v}" for a, v in m.aliases.items()) or "-"
        split = ", ".join(f"v{v}:{w:g}" for v, w in m.split.items()) or "-"
        print(f"{m.name}: {len(m.versions)} version(s); aliases {aliases}; split {split}")
        for v in m.versions:
            metric = next(iter(v.metrics.get("test", v.metrics).items()), ("", ""))
            print(f"  v{v.version}  {v.task:<14} {v.created_at:%Y-%m-%d %H:%M}  {metric[0]} {metric[1]}  {v.run_path}")


@models_app.command("show")
def models_show(name: str, db: Db = None) -> None:
    """Everything about one model, as JSON."""
    store = _store(db)
    _print({**store.get_model(name).to_dict(), "alias_history": store.alias_history(name)})


@models_app.command("promote")
def models_promote(
    name: str,
    version: Annotated[int, Opt("--version", help="Version number to point the alias at.")],
    alias: Annotated[str, Opt(help="Alias to move.")] = "production",
    db: Db = None,
) -> None:
    """Point an alias (default production) at a version."""
    info = _store(db).set_alias(name, alias, version, actor="cli")
    print(f"{name}@{alias} -> version {info.version}")


@models_app.command("rollback")
def models_rollback(name: str, alias: Annotated[str, Opt(help="Alias to move back.")] = "production",
                    db: Db = None) -> None:
    """Move an alias back to the version it pointed at before its last move."""
    info = _store(db).rollback_alias(name, alias, actor="cli")
    print(f"{name}@{alias} -> version {info.version} (rolled back)")


@models_app.command("split")
def models_split(
    name: str,
    weights: Annotated[list[str] | None, typer.Argument(help="VERSION=WEIGHT pairs, e.g. 3=0.9 4=0.1; none clears.")]
    = None,
    db: Db = None,
) -> None:
    """Split traffic between versions (sticky per caller)."""
    from tunelab.errors import UsageError

    parsed: dict[int, float] = {}
    for item in weights or []:
        version, sep, weight = item.partition("=")
        try:
            parsed[int(version)] = float(weight)
        except ValueError:
            raise UsageError(f"bad split item {item!r}", hint="write VERSION=WEIGHT, e.g. 3=0.9") from None
        if not sep:
            raise UsageError(f"bad split item {item!r}", hint="write VERSION=WEIGHT, e.g. 3=0.9")
    result = _store(db).set_split(name, parsed)
    print(f"{name}: " + (", ".join(f"v{v}={w:g}" for v, w in result.items()) if result else "split removed"))


@keys_app.command("create")
def keys_create(
    name: Annotated[str, Opt("--name", help="Who the key is for, e.g. partner-x.")],
    scopes: Annotated[str, Opt(help="Comma-separated: predict, feedback, admin.")] = "predict",
    rate_per_s: Annotated[float | None, Opt(help="Own rate limit (requests/s) instead of the server default.")]
    = None,
    burst: Annotated[int | None, Opt(help="Own burst size (with --rate-per-s).")] = None,
    db: Db = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="Print only the key.")] = False,
) -> None:
    """Create an API key. It is printed once; only its hash is stored."""
    import math

    from tunelab.errors import UsageError

    if rate_per_s is not None and not (math.isfinite(rate_per_s) and 0 < rate_per_s <= 1e6):
        raise UsageError("--rate-per-s must be a number in (0, 1000000]", hint="leave it out for the server default")
    if burst is not None and not 1 <= burst <= 10**6:
        raise UsageError("--burst must be between 1 and 1000000")
    if rate_per_s is not None and burst is None:
        burst = max(1, math.ceil(rate_per_s * 2))
    if burst is not None and rate_per_s is None:
        raise UsageError("--burst needs --rate-per-s")
    info, token = _store(db).create_key(name, scopes, rate_per_s=rate_per_s, burst=burst)
    if quiet:
        print(token)
        return
    print(token)
    print(f"key id {info.id}, name {info.name}, scopes {','.join(info.scopes)}: store it now, it is not shown "
          "again", file=sys.stderr)


@keys_app.command("list")
def keys_list(db: Db = None, as_json: AsJson = False) -> None:
    """Keys with scopes and usage counters (never the keys themselves)."""
    keys = _store(db).list_keys()
    if as_json:
        _print([k.to_dict() for k in keys])
        return
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        u = k.usage
        print(f"{k.id}  {k.name:<20} {','.join(k.scopes):<24} {state:<18} requests {u['requests']} texts "
              f"{u['texts']} tokens {u['tokens']} errors {u['errors']}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or name.")], db: Db = None) -> None:
    """Revoke a key (running servers stop accepting it within about half a second)."""
    info = _store(db).revoke_key(key)
    print(f"revoked {info.id} ({info.name})")


@keys_app.command("new-data-key")
def keys_new_data_key(
    file: Annotated[str, Opt("--file", help="The data key file (created with mode 0600; a new key goes first, "
                                            "older ones stay below it for reading).")],
) -> None:
    """Add a new data key (encryption at rest) at the top of a key file; then run rotate-data-key."""
    import os
    from pathlib import Path

    from tunelab.registry.sealing import DataKey, new_key_text, read_key_file

    path = Path(file)
    older = read_key_file(path) if path.exists() else []
    key = new_key_text()
    staging = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write("\n".join([key, *older]) + "\n")
    os.replace(staging, path)
    print(f"new data key {DataKey.parse(key, str(path)).key_id} first in {path} ({len(older)} older kept); "
          f"set TUNELAB_DATA_KEY_FILE={path} and run `tunelab keys rotate-data-key`")


@keys_app.command("rotate-data-key")
def keys_rotate_data_key(
    db: Db = None,
    batch: Annotated[int, Opt(help="Rows per transaction.")] = 500,
) -> None:
    """Re-encrypt every stored text and output with the first key of the data key file (resumable)."""
    from tunelab.errors import UsageError
    from tunelab.migrations.tables import TABLE_MODULES
    from tunelab.registry.rotation import rotate
    from tunelab.registry.schema import metadata
    from tunelab.registry.sealing import active

    assert TABLE_MODULES  # every application's tables are on the metadata
    if batch < 1:
        raise UsageError("--batch must be at least 1")
    store = _store(db)
    report = rotate(store.engine, active(), metadata, batch,
                    progress=lambda table, n: print(f"{table}: {n} rows checked", file=sys.stderr))
    from tunelab.registry import audit

    with store.engine.begin() as conn:
        audit.record(conn, "datakey.rotate", report.primary, "cli", rewritten=report.rewritten)
    for table, count in report.rewritten.items():
        print(f"{table}: {count} of {report.scanned[table]} rows re-sealed")
    print(f"everything is sealed with data key {report.primary}; older keys may now leave the key file")


@ab_app.command("report")
def ab_report_cmd(
    model: str,
    alpha: Annotated[float, Opt(help="Significance level.")] = 0.05,
    min_samples: Annotated[int, Opt(help="Feedback items per version needed before testing.")] = 30,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Accuracy of each version on feedback, with confidence intervals and a significance test."""
    from tunelab.registry.abstats import ab_report

    store = _store(db)
    store.get_model(model)  # an unknown model is an error, not an empty report
    counts = store.feedback_counts(model)
    split = store.get_split(model)
    for version in split:
        counts.setdefault(version, (0, 0))
    report = ab_report(model, counts, split or None, alpha=alpha, min_samples=min_samples)
    if as_json:
        _print(report.to_dict())
        return
    print(f"A/B report for {model}")
    for arm in report.arms:
        acc = f"{arm.accuracy:.1%}" if arm.accuracy is not None else "n/a"
        weight = f"  weight {arm.weight:g}" if arm.weight is not None else ""
        print(f"  v{arm.version}: accuracy {acc} on {arm.n} feedback items, 95% CI [{arm.ci_low:.1%}, "
              f"{arm.ci_high:.1%}]{weight}")
    print(report.message)
