"""`tunelab monitor ...`: ingest news, classify sentiment, aggregate per entity, alert, replay history."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunelab.cli.service import AsJson, Db, Opt

monitor_app = typer.Typer(help="Financial-news sentiment monitor with alerts.", no_args_is_help=True)
WebhookHosts = Annotated[list[str] | None, Opt("--webhook-host", help="A host webhooks may reach (host, host:port or "
                                                                      "*.example.com); repeat it. None: no webhook.")]
WebhookSecrets = Annotated[str | None, Opt("--webhook-secrets", help="YAML/JSON file of `name: value` for "
                                                                     "${secret:NAME} in webhook headers (chmod 600).")]
AllowPrivate = Annotated[bool, Opt("--allow-private-webhooks", help="Let webhooks reach loopback/private addresses.")]


def _policy(hosts: list[str] | None, secrets: str | None, allow_private: bool) -> Any:
    """The operator's own policy: the webhook hosts and secrets given here; run folders anywhere."""
    from tunelab.apps.monitor.policy import MonitorPolicy, load_webhook_secrets

    return MonitorPolicy(tuple(hosts or ()), allow_private, load_webhook_secrets(secrets), model_roots=None)


def _registry(db: str | None) -> Any:
    from tunelab.registry import Store

    return Store(db)


def _config(spec: str, registry: Any) -> Any:
    """A YAML file, or the name of a monitor defined in the registry."""
    from tunelab.apps.monitor.config import load_monitor_config
    from tunelab.apps.monitor.hub import MonitorHub

    if Path(spec).suffix in (".yaml", ".yml") or Path(spec).is_file():
        return load_monitor_config(spec)
    return MonitorHub(registry).config(spec)


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _show_alert(alert: dict[str, Any]) -> None:
    print(f"ALERT {alert['at']}  {alert['rule']:<24} {alert['kind']}:{alert['key']:<12} {alert['message']}")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@monitor_app.command("create")
def create(config: Annotated[str, typer.Argument(help="Monitor YAML file.")], db: Db = None) -> None:
    """Validate a monitor config, load its models, and store it in the registry (the server then accepts its
    events at POST /v1/monitors/NAME/events). Running it again replaces the config."""
    from tunelab.apps.monitor.monitor import Monitor

    parsed = _config(config, None)
    Monitor.open(parsed, _registry(db))
    print(f"monitor {parsed.name}: {len(parsed.rules)} rule(s), window {parsed.window_s:g} s, "
          f"webhook {'on' if parsed.webhook else 'off'}")


@monitor_app.command("list")
def list_monitors(db: Db = None, as_json: AsJson = False) -> None:
    """Monitors defined in the registry."""
    from tunelab.apps.monitor.store import MonitorStore

    rows = MonitorStore(_registry(db).engine).list_monitors()
    if as_json:
        _print(rows)
        return
    if not rows:
        print("no monitors; define one with `tunelab monitor create monitor.yaml`")
    for row in rows:
        print(f"{row['name']}: {len(row['config'].get('rules') or [])} rule(s), updated {row['updated_at']}")


@monitor_app.command("run")
def run(
    config: Annotated[str, typer.Argument(help="Monitor YAML file, or the name of a monitor in the registry.")],
    input_path: Annotated[str, Opt("--input", "-i", help="JSONL file, folder of *.jsonl, or - for stdin.")] = "-",
    follow: Annotated[bool, Opt("--follow", "-f", help="Keep watching the file or folder for new lines.")] = False,
    poll: Annotated[float, Opt(help="Seconds between checks for new lines with --follow.")] = 1.0,
    batch_size: Annotated[int, Opt(help="Events classified together (stdin: 1 for a live pipe).")] = 64,
    webhook_host: WebhookHosts = None,
    webhook_secrets: WebhookSecrets = None,
    allow_private_webhooks: AllowPrivate = False,
    db: Db = None,
) -> None:
    """Ingest events: dedupe, classify, aggregate, evaluate the rules, store and deliver alerts. Events stamped
    more than 5 minutes ahead of this machine's clock are skipped with a warning."""
    from tunelab.apps.monitor.events import chunked, read_jsonl
    from tunelab.apps.monitor.hub import MonitorHub
    from tunelab.apps.monitor.monitor import Monitor
    from tunelab.apps.monitor.sources import read_stream, watch

    _logging()
    registry = _registry(db)
    parsed = _config(config, registry)
    policy = _policy(webhook_host, webhook_secrets, allow_private_webhooks)
    monitor = Monitor.open(parsed, registry, max_clock_skew_s=policy.max_clock_skew_s)
    hub = MonitorHub(registry, policy=policy)
    if input_path == "-":
        batches = read_stream(sys.stdin, batch_size=max(1, batch_size))
    elif follow:
        batches = watch(Path(input_path), poll_s=poll)
    else:
        batches = chunked(read_jsonl(input_path), max(1, batch_size))
    total = duplicates = raised = 0
    for batch in batches:
        result = monitor.ingest(_drop_future(batch, policy.max_clock_skew_s))
        total, duplicates, raised = total + result.accepted, duplicates + result.duplicates, raised + len(result.alerts)
        for alert in result.alerts:
            _show_alert(alert)
        if parsed.webhook is not None:
            hub.deliver(wait_s=None)
    hub.close()
    print(f"{total} item(s) ingested, {duplicates} duplicate(s) dropped, {raised} alert(s)", file=sys.stderr)


def _drop_future(batch: list[Any], skew_s: float) -> list[Any]:
    """The batch without events stamped too far ahead (each logged, as a bad line is: a live stream goes on)."""
    from tunelab.apps.monitor.monitor import future_events

    problems = future_events(batch, skew_s, where="batch")
    for problem in problems:
        logging.getLogger("tunelab.monitor").warning("skipped: %s", problem)
    late = {int(p.path[len("batch["):-1]) for p in problems}
    return [e for i, e in enumerate(batch) if i not in late]


@monitor_app.command("replay")
def replay(
    events: Annotated[str, typer.Argument(help="JSONL history: text, timestamp, source, tickers, entities.")],
    config: Annotated[str, Opt("--config", "-c", help="Monitor YAML file or registered monitor name.")],
    speed: Annotated[float, Opt(help="0: as fast as possible; N: N times real time, paced on the timestamps.")] = 0.0,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Backtest the rules on history: the alerts they would have raised (nothing stored or delivered)."""
    from tunelab.apps.monitor.events import read_jsonl
    from tunelab.apps.monitor.replay import run_replay

    registry = _registry(db)
    parsed = _config(config, registry)
    history = read_jsonl(events)
    report = run_replay(history, parsed, speed=speed, registry=registry, progress=_progress())
    if as_json:
        _print(report.to_dict())
        return
    for alert in report.alerts:
        _show_alert(alert)
    print(f"replayed {report.events} event(s) from {report.first_at} to {report.last_at} in {report.seconds:.1f} s: "
          f"{report.accepted} classified, {report.duplicates} duplicate(s), {len(report.alerts)} alert(s)")


def _progress() -> Any:
    state = {"last": 0}

    def show(done: int, total: int) -> None:
        if done == total or done - state["last"] >= max(500, total // 10):
            state["last"] = done
            print(f"replay: {done}/{total} events", file=sys.stderr, flush=True)

    return show


@monitor_app.command("alerts")
def alerts(
    name: str,
    rule: Annotated[str | None, Opt(help="Only this rule.")] = None,
    key: Annotated[str | None, Opt(help="Only this ticker, entity or topic.")] = None,
    status: Annotated[str | None, Opt(help="pending, delivered or logged.")] = None,
    limit: Annotated[int, Opt(help="At most this many, newest first.")] = 50,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Stored alerts with their delivery state."""
    from tunelab.apps.monitor.store import MonitorStore

    rows = MonitorStore(_registry(db).engine).list_alerts(name, rule=rule, key=key, status=status, limit=limit)
    if as_json:
        _print(rows)
        return
    if not rows:
        print("no alerts")
    for row in rows:
        print(f"#{row['id']} {row['at']}  {row['status']:<9} attempts {row['attempts']}  {row['message']}")


@monitor_app.command("aggregates")
def aggregates(
    name: str,
    kind: Annotated[str | None, Opt(help="all, ticker, entity or topic.")] = None,
    key: Annotated[str | None, Opt(help="One ticker, entity or topic.")] = None,
    limit: Annotated[int, Opt(help="At most this many windows, newest first.")] = 50,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Windowed volume, negative share and mean score per ticker, entity and topic."""
    from tunelab.apps.monitor.store import MonitorStore

    rows = MonitorStore(_registry(db).engine).list_aggregates(name, kind=kind, key=key, limit=limit)
    if as_json:
        _print(rows)
        return
    print(f"{'window start':<27}{'kind':<8}{'key':<16}{'volume':>7}{'neg share':>10}{'mean score':>11}")
    for r in rows:
        print(f"{r['window_start']:<27}{r['kind']:<8}{r['key'][:15]:<16}{r['volume']:>7}"
              f"{r['negative_share']:>10.3f}{r['mean_score']:>11.3f}")


@monitor_app.command("deliver")
def deliver(webhook_host: WebhookHosts = None, webhook_secrets: WebhookSecrets = None,
            allow_private_webhooks: AllowPrivate = False, db: Db = None) -> None:
    """Send the alerts whose webhook delivery is due (a server does this by itself every few seconds), to the
    hosts given with --webhook-host only."""
    from tunelab.apps.monitor.hub import MonitorHub

    _logging()
    hub = MonitorHub(_registry(db), policy=_policy(webhook_host, webhook_secrets, allow_private_webhooks))
    report = hub.deliver(wait_s=None)
    hub.close()
    print(f"{report.attempted} attempted, {report.delivered} delivered, {report.failed} failed (will be retried)")
