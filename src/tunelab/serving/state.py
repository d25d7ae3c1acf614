"""Everything one server process holds: the store, loaded models, the batcher, auth, usage, metrics, routing.

The predict path lives here (not in the routes) so it can be read in one place:
resolve the version -> load it (LRU) -> micro-batch -> forward pass -> log every prediction -> answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tunelab.errors import NotFoundError, UsageError
from tunelab.registry import ModelInfo, ModelRef, PredictionRecord, Store, VersionInfo, choose_version
from tunelab.registry.store import now
from tunelab.serving.auth import Authenticator, Caller, UsageMeter
from tunelab.serving.batcher import Job, MicroBatcher
from tunelab.serving.metrics import Metrics
from tunelab.serving.models import LoadedModel, ModelCache
from tunelab.serving.settings import ServeSettings

log = logging.getLogger("tunelab.serve")


@dataclass(frozen=True)
class Served:
    """The answer to one predict request."""

    version: VersionInfo
    outputs: list[dict[str, Any]]  # one per input text, each with its prediction id
    tokens: int


def valid_utf8(data: str | bytes) -> bool:
    """Bytes that decode as UTF-8, or text that encodes to it (no lone surrogates)."""
    try:
        data.decode("utf-8") if isinstance(data, bytes) else data.encode("utf-8")
    except UnicodeError:
        return False
    return True


class RouteCache:
    """Model routing facts (versions, aliases, split) cached for `ttl` seconds: changes made through another
    replica show up within that time; changes made through this one show at once (`invalidate`)."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._items: dict[str, tuple[float, ModelInfo]] = {}
        self._lock = threading.Lock()

    def model(self, name: str, *, fresh: bool = False) -> ModelInfo:
        stamp = time.monotonic()
        with self._lock:
            hit = self._items.get(name)
        if hit is not None and not fresh and stamp - hit[0] < self.ttl:
            return hit[1]
        info = self.store.get_model(name)
        with self._lock:
            self._items[name] = (stamp, info)
        return info

    def resolve(self, ref: ModelRef, caller: str) -> VersionInfo:
        info = self.model(ref.name)
        try:
            version = choose_version(ref, info, caller)
        except NotFoundError:  # maybe registered through another replica a moment ago
            info = self.model(ref.name, fresh=True)
            version = choose_version(ref, info, caller)
        return next(v for v in info.versions if v.version == version)

    def invalidate(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._items.clear()
            else:
                self._items.pop(name, None)


class ServerState:
    def __init__(self, settings: ServeSettings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.db)
        self.metrics = Metrics()
        self.routes = RouteCache(self.store, settings.registry_cache_s)
        self.models = ModelCache(settings.max_models, settings.precision, settings.backend)
        self.auth = Authenticator(self.store, enabled=settings.auth, rate_per_s=settings.rate_per_s,
                                  burst=settings.burst, cache_s=settings.key_cache_s)
        self.usage = UsageMeter(self.store)
        self.batcher = self._new_batcher()
        self._tasks: list[asyncio.Task] = []
        # what the applications and the dashboard hold (loaded assistants, monitors, training jobs), by name
        self.extensions: dict[str, Any] = {}
        # called (sync or async, no arguments) at the end of start() and the start of stop()
        self.on_start: list[Any] = []
        self.on_stop: list[Any] = []

    def _new_batcher(self) -> MicroBatcher:
        return MicroBatcher(self._infer, self._finish, max_batch_size=self.settings.max_batch_size,
                            max_wait_ms=self.settings.max_wait_ms)

    # ---- predict ---------------------------------------------------------------------------------

    def check_inputs(self, texts: list[str]) -> None:
        s = self.settings
        if len(texts) > s.max_texts:
            raise UsageError(f"{len(texts)} inputs in one request; the limit is {s.max_texts}",
                             hint="split the texts over several requests")
        too_long = [i for i, text in enumerate(texts) if len(text) > s.max_chars]
        if too_long:
            raise UsageError(f"inputs {too_long[:10]} are longer than {s.max_chars} characters",
                             hint="shorten them; the model reads only its first few hundred tokens anyway")
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        if empty:
            raise UsageError(f"inputs {empty[:10]} are empty")
        broken = [i for i, text in enumerate(texts) if not valid_utf8(text)]
        if broken:  # JSON can carry lone surrogates ("\ud800") that no tokenizer accepts
            raise UsageError(f"inputs {broken[:10]} are not valid Unicode text (lone surrogates)")

    async def predict(self, ref: ModelRef, texts: list[str], caller: Caller, caller_id: str) -> Served:
        self.check_inputs(texts)
        version = self.routes.resolve(ref, caller_id)
        loaded = await self._loaded(version)
        started = time.perf_counter()
        outputs, tokens = await self.batcher.submit((version.model, version.version), texts,
                                                    meta=(loaded, caller, caller_id))
        labels = (version.model, str(version.version))
        self.metrics.predict_latency.labels(*labels).observe(time.perf_counter() - started)
        self.metrics.predict_requests.labels(*labels, caller.label).inc()
        self.metrics.predict_texts.labels(*labels, caller.label).inc(len(texts))
        self.usage.add(caller.key_id, requests=1, texts=len(texts), tokens=tokens)
        return Served(version, outputs, tokens)

    async def _loaded(self, version: VersionInfo) -> LoadedModel:
        loaded = self.models.peek(version)  # the usual case: in memory, no thread hop
        if loaded is not None:
            return loaded
        loaded = await asyncio.get_running_loop().run_in_executor(None, self.models.get, version)
        self.metrics.models_loaded.set(len(self.models.loaded()))
        return loaded

    def _infer(self, key: Hashable, jobs: list[Job]) -> list[Any]:
        """On the inference thread: one forward pass for every text of every job."""
        from tunelab.inference.serialize import prediction_to_dict

        loaded: LoadedModel = jobs[0].meta[0]
        texts = [text for job in jobs for text in job.texts]
        predictions, tokens = loaded.predictor.predict_with_tokens(texts, batch_size=self.settings.infer_batch_size)
        self.metrics.batch_size.labels(key[0], str(key[1])).observe(len(texts))
        outputs = [prediction_to_dict(p) for p in predictions]
        results, start = [], 0
        for job in jobs:
            end = start + len(job.texts)
            results.append((outputs[start:end], sum(tokens[start:end])))
            start = end
        return results

    def _finish(self, key: Hashable, jobs: list[Job], results: list[Any]) -> list[Any]:
        """On the log thread: give every prediction an id and write them all in one transaction."""
        stamp = time.perf_counter()
        records, answered = [], []
        for job, (outputs, tokens) in zip(jobs, results):
            _loaded, caller, caller_id = job.meta
            latency = (stamp - job.enqueued) * 1000.0
            with_ids = []
            for text, output in zip(job.texts, outputs):
                pid = uuid.uuid4().hex
                records.append(PredictionRecord(pid, key[0], key[1], output, latency, text, caller.key_id,
                                                caller_id[:128], self.settings.log_text))
                with_ids.append({"id": pid, **output})
            answered.append((with_ids, tokens))
        self.store.log_predictions(records)
        return answered

    # ---- background work -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.batcher.closed:  # the app's lifespan ran before (tests run it more than once)
            self.batcher = self._new_batcher()
        self._tasks = [asyncio.create_task(self._every(self.settings.usage_flush_s, self.usage.flush)),
                       asyncio.create_task(self._every(3600.0, self.purge, first=0.0))]
        for hook in self.on_start:
            await _maybe_await(hook())

    def every(self, seconds: float, func: Any, first: float | None = None) -> None:
        """Run `func` on a worker thread every `seconds` while the server runs (call from an on_start hook)."""
        self._tasks.append(asyncio.create_task(self._every(seconds, func, first)))

    async def stop(self) -> None:
        for hook in self.on_stop:
            try:
                await _maybe_await(hook())
            except Exception:  # noqa: BLE001 - shutting down: report, don't hang
                log.exception("shutdown hook %s failed", getattr(hook, "__name__", hook))
        for task in self._tasks:
            task.cancel()
        await self.batcher.close()
        try:
            self.usage.flush()
        except Exception:  # noqa: BLE001 - shutting down: report, don't hang
            log.exception("could not flush usage counters")
        self.store.close()

    def purge(self) -> int:
        cutoff = now() - timedelta(days=self.settings.retention_days)
        removed = self.store.purge_predictions(cutoff)
        if removed:
            log.info("retention: removed %d predictions older than %s", removed, cutoff.isoformat())
        return removed

    async def _every(self, seconds: float, func: Any, first: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(seconds if first is None else first)
        while True:
            try:
                await loop.run_in_executor(None, func)
            except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
                log.exception("background task %s failed", getattr(func, "__name__", func))
            await asyncio.sleep(seconds)


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value
