"""The composition root's one object: every service a server process holds, typed, built once per process.

`build_services(settings)` wires them; `start`/`stop` run in the app's lifespan. Routes and dashboard pages
reach them through `deps.Services` (an `Annotated` dependency), never by importing each other.

    settings ─► Store ─┬─► Authenticator, UsageMeter
                       ├─► RouteCache ─► ModelAdmin (every routing write invalidates the cache)
                       ├─► ModelCache (one LRU for /v1/models, the assistants' classifiers, the monitors' models)
                       ├─► Predictions (routing + cache + micro-batcher + prediction log + Shadowing: the
                       │   loop's shadow challenger scores live requests after they are answered)
    settings ─► Redactor (privacy_*): every stored text passes it (predictions, feedback, turns, monitor items),
                       │   or a target's own policy (privacy_policies): Redactors.for_target(kind, name)
                       ├─► Desk (assistants) and MonitorHub (monitors), loading models through the ModelCache
                       ├─► RecommenderHub (registered recommenders, an LRU of --max-models loaded builds)
                       ├─► TrainingJobs (dashboard runs in a subprocess) and the dashboard's session codec
                       └─► LoopScheduler (loop_policies): `loop run --if-due` in a child process, one replica each
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from tunelab.apps.assistant.desk import Desk
from tunelab.apps.monitor.hub import MonitorHub
from tunelab.apps.monitor.policy import MonitorPolicy, build_policy
from tunelab.apps.recommender.hub import RecommenderHub
from tunelab.home import home
from tunelab.loop.scheduler import LoopScheduler
from tunelab.privacy import Redactor, build_redactor
from tunelab.privacy.ner import load_ner
from tunelab.privacy.policies import PRIVACY, PolicyStore, Redactors
from tunelab.registry import Store
from tunelab.registry.coordination import KEYS, MONITORS, ROUTING
from tunelab.registry.sessions import Sessions
from tunelab.registry.store import now
from tunelab.serving.auth import Authenticator, UsageMeter
from tunelab.serving.cookies import SessionCodec, load_secret
from tunelab.serving.jobs import TrainingJobs
from tunelab.serving.metrics import Metrics
from tunelab.serving.models import ModelCache
from tunelab.serving.predicting import Predictions
from tunelab.serving.replicas import CHANGE_POLL_S, ChangeWatcher, build_limiter
from tunelab.serving.routing import ModelAdmin, RouteCache
from tunelab.serving.settings import ServeSettings
from tunelab.serving.shadowing import Shadowing

log = logging.getLogger("tunelab.serve")
DELIVERY_INTERVAL_S = 2.0  # monitor webhooks: how often the outbox is worked


@dataclass
class Dashboard:
    """What the dashboard holds per process: its home folder (signing secret, uploads) and the training jobs."""

    home: Path
    jobs: TrainingJobs = field(default_factory=TrainingJobs)

    @cached_property
    def codec(self) -> SessionCodec:
        """Made on the first dashboard request: a server that nobody browses writes no secret file."""
        return SessionCodec(load_secret(self.home))

    @property
    def uploads(self) -> Path:
        return self.home / "uploads"  # one folder per upload


@dataclass
class Services:
    settings: ServeSettings
    store: Store
    metrics: Metrics
    auth: Authenticator
    usage: UsageMeter
    routes: RouteCache
    admin: ModelAdmin
    models: ModelCache
    predictions: Predictions
    desk: Desk
    hub: MonitorHub
    recommenders: RecommenderHub
    dashboard: Dashboard
    sessions: Sessions
    redactors: Redactors  # per target: its own policy, else the server's (`redactors.default`)
    loop: LoopScheduler | None = None  # None: no loop_policies in the settings
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def monitor_policy(settings: ServeSettings) -> MonitorPolicy:
    """What the operator allows monitors: webhook hosts and secrets, clock skew, model folders."""
    return build_policy(webhook_hosts=settings.webhook_hosts, webhook_allow_private=settings.webhook_allow_private,
                        webhook_secrets_file=settings.webhook_secrets_file,
                        max_clock_skew_s=settings.max_clock_skew_s, runs_root=settings.runs_root)


def build_services(settings: ServeSettings, store: Store | None = None) -> Services:
    store = store or Store(settings.db)
    metrics = Metrics()
    usage = UsageMeter(store)
    routes = RouteCache(store, settings.registry_cache_s)
    models = ModelCache(settings.max_models, settings.precision, settings.backend)
    limiter = build_limiter(store, settings.rate_per_s, settings.burst)  # shared by the replicas on PostgreSQL
    build = redactor_factory(settings)
    redactors = Redactors(build(settings.privacy_redact, settings.privacy_mode), PolicyStore(store.engine),
                          build=build, has_ner=settings.has_ner)
    auth = Authenticator(store, enabled=settings.auth, rate_per_s=settings.rate_per_s, burst=settings.burst,
                         cache_s=settings.key_cache_s, limiter=limiter)
    shadow = Shadowing(store, models, redactors, metrics, ttl=settings.registry_cache_s,
                       batch_size=settings.infer_batch_size)
    return Services(
        settings=settings, store=store, metrics=metrics, auth=auth, usage=usage, routes=routes,
        admin=ModelAdmin(store, routes), models=models,
        predictions=Predictions(settings, store, routes, models, metrics, usage, redactors, shadow),
        desk=Desk(store, log_text=settings.log_text, loader=models.load_path, redactors=redactors),
        hub=MonitorHub(store, policy=monitor_policy(settings), loader=models.load_path, redactors=redactors),
        recommenders=RecommenderHub(store, settings.max_models),
        dashboard=Dashboard(home()), sessions=Sessions(store), redactors=redactors,
        loop=LoopScheduler(store, settings.loop_policies, db_url=settings.db, timeout_s=settings.loop_timeout_s)
        if settings.loop_policies else None)


async def start(services: Services) -> None:
    """Start the batcher and the background work: usage counters, retention, monitor webhooks, the watch on
    changes made through other processes (keys, routing, monitor configs) and the retraining scheduler."""
    services.predictions.start()
    watcher = ChangeWatcher(services.store.engine, {KEYS: services.auth.forget_all,
                                                    ROUTING: lambda: routing_changed(services),
                                                    MONITORS: services.hub.forget_all,
                                                    PRIVACY: lambda: policies_changed(services)})
    watcher.poll()  # the counters as they are now: caches filled from here on follow later changes
    services.tasks = [
        _every(CHANGE_POLL_S, watcher.poll),
        _every(services.settings.usage_flush_s, services.usage.flush),
        _every(3600.0, lambda: purge(services), first=0.0),
        _every(DELIVERY_INTERVAL_S, services.hub.deliver),
    ]
    if services.loop is not None:
        services.tasks.append(_every(services.settings.loop_check_s, services.loop.tick))


async def stop(services: Services) -> None:
    services.dashboard.jobs.stop()
    for task in services.tasks:
        task.cancel()
    await services.predictions.stop()
    services.hub.close()
    try:
        services.usage.flush()
    except Exception:  # noqa: BLE001 - shutting down: report, don't hang
        log.exception("could not flush usage counters")
    services.auth.limiter.close()
    services.store.close()


def routing_changed(services: Services) -> None:
    """Aliases, splits or loop stages changed through another process: drop what this one cached of them."""
    services.routes.invalidate()
    if services.predictions.shadow is not None:
        services.predictions.shadow.forget()


def redactor_factory(settings: ServeSettings) -> Callable[[str | Sequence[str], str], Redactor]:
    """Redactors for any types and mode with the server's hash salt and NER models; the NER detector is loaded
    once, by the first policy that names a name type, and shared by every redactor built here."""
    english, other = settings.privacy_ner_model or None, settings.privacy_ner_model_multilingual or None
    shared_ner = cache(lambda: load_ner(english, other))

    def build(types: str | Sequence[str], mode: str) -> Redactor:
        return build_redactor(types, mode, ner_model=english, ner_model_multilingual=other, ner_loader=shared_ner)

    return build


def policies_changed(services: Services) -> None:
    """A target's privacy policy was written (here or through another process): rebuild its Redactor on next use
    (the monitors hold theirs, so they reopen)."""
    services.redactors.forget_all()
    services.hub.forget_all()


def scrub_comment(services: Services, prediction_id: str, comment: str) -> str:
    """A feedback comment redacted by the policy of the model (or assistant) whose prediction it is about."""
    logged = services.store.get_prediction(prediction_id)  # unknown: 404, as add_feedback would answer
    kind = "model" if logged.get("kind", "model") == "model" else "assistant"
    return services.redactors.for_target(kind, str(logged["model"])).scrub(comment)


def purge(services: Services) -> int:
    """Retention: delete predictions without feedback older than `retention_days`."""
    cutoff = now() - timedelta(days=services.settings.retention_days)
    removed = services.store.purge_predictions(cutoff)
    if removed:
        log.info("retention: removed %d predictions older than %s", removed, cutoff.isoformat())
    return removed


def _every(seconds: float, func: Callable[[], Any], first: float | None = None) -> asyncio.Task[None]:
    """Run `func` on a worker thread every `seconds` while the server runs."""

    async def loop() -> None:
        running = asyncio.get_running_loop()
        await asyncio.sleep(seconds if first is None else first)
        while True:
            try:
                await running.run_in_executor(None, func)
            except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
                log.exception("background task %s failed", getattr(func, "__name__", func))
            await asyncio.sleep(seconds)

    return asyncio.create_task(loop())
