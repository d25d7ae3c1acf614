"""The shadow stage in the server: while the loop holds a challenger in shadow, it also scores the champion's live
requests (all, or the policy's `shadow_share` of them, sampled by prediction id), after the response is computed,
and its answers are recorded by prediction id. It never answers.

The caller's response is built before the shadow work is scheduled and never waits for it; the challenger runs
on one worker thread of its own at a lower CPU priority (Linux: nice +10), so it takes idle CPU rather than the
answering path's; at most `max_pending` shadow jobs wait or run (more are dropped and counted, so a slow
challenger cannot pile work up);
a failing challenger (load, predict or write) is logged by its error's type only (no text) and counted. The
challenger loads through the server's model cache by its folder (`load_path`): under the same `--max-models` cap,
but its own predictor, never the one that answers requests naming the challenger's version.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tunelab.loop.stages import SHADOW, ShadowAnswer, Stage, current_stage, record_answers
from tunelab.privacy.policies import Redactors
from tunelab.privacy.redactor import redact_output
from tunelab.registry import Store, VersionInfo
from tunelab.serving.metrics import Metrics
from tunelab.serving.models import ModelCache

log = logging.getLogger("tunelab.serve.shadow")
MAX_PENDING = 4
NICE = 10  # the shadow thread's CPU priority below the server's


def lower_priority() -> None:
    """Run the calling thread at a lower CPU priority (Linux sets it per thread; elsewhere nothing changes)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: the cap on pending jobs still holds
        pass


def sampled(prediction_id: str, share: float) -> bool:
    """Whether a prediction is in the shadow's sample: its id's hash below `share` of the range (stable across
    replicas and restarts, unlike a random draw)."""
    digest = hashlib.blake2b(prediction_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < share * 2**64


@dataclass(frozen=True)
class Target:
    """An open shadow stage and the challenger version it runs."""

    stage: Stage
    challenger: VersionInfo


class Shadowing:
    """Runs the shadow challenger of a served version (see the module docstring)."""

    def __init__(self, store: Store, models: ModelCache, redactors: Redactors, metrics: Metrics, *, ttl: float,
                 batch_size: int, max_pending: int = MAX_PENDING) -> None:
        self.store = store
        self.models = models
        self.redactors = redactors  # the answers are stored as the log stores the champion's: by the model's policy
        self.metrics = metrics
        self.ttl = ttl
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.scored = self.dropped = self.failed = 0
        self._targets: dict[str, tuple[float, Target | None]] = {}
        self._lock = threading.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self._worker: ThreadPoolExecutor | None = None  # made on the first shadow job, closed with the server

    def target(self, version: VersionInfo) -> Target | None:
        """The open shadow stage whose champion is `version` (cached `ttl` seconds per model), else None."""
        stamp = time.monotonic()
        with self._lock:
            hit = self._targets.get(version.model)
        if hit is None or stamp - hit[0] >= self.ttl:
            hit = (stamp, self._lookup(version.model))
            with self._lock:
                self._targets[version.model] = hit
        found = hit[1]
        return found if found is not None and found.stage.champion_version == version.version else None

    def _lookup(self, model: str) -> Target | None:
        try:
            stage = current_stage(self.store, model)
            if stage is None or stage.kind != SHADOW:
                return None
            return Target(stage, self.store.get_version(model, stage.challenger_version))
        except Exception as error:  # noqa: BLE001 - shadowing is optional: the request goes on without it
            log.warning("shadow: cannot read the stage of %s (%s)", model, type(error).__name__)
            return None

    def after(self, version: VersionInfo, texts: Sequence[str], outputs: Sequence[dict[str, Any]]) -> None:
        """Schedule the challenger on these texts (the champion's `outputs` carry the prediction ids); returns at
        once. Call it only once the response is computed."""
        target = self.target(version)
        if target is None:
            return
        share = target.stage.share
        if share is not None and share < 1:  # the policy's shadow_share: a fixed sample of prediction ids
            kept = [i for i, o in enumerate(outputs) if sampled(str(o["id"]), share)]
            if not kept:
                return
            texts, outputs = [texts[i] for i in kept], [outputs[i] for i in kept]
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            self._count(target, "dropped", len(texts))
            return
        task = asyncio.get_running_loop().create_task(self._score(target, list(texts), [o["id"] for o in outputs]))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _score(self, target: Target, texts: list[str], ids: list[str]) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor(), self._score_now, target, texts, ids)
            self.scored += len(texts)
            self._count(target, "scored", len(texts))
        except Exception as error:  # noqa: BLE001 - never the caller's problem; the log says which and why
            self.failed += 1
            self._count(target, "failed", len(texts))
            log.warning("shadow: challenger %s@%d failed on %d text(s) (%s)", target.challenger.model,
                        target.challenger.version, len(texts), type(error).__name__)

    def _count(self, target: Target, outcome: str, texts: int) -> None:
        self.metrics.shadow_texts.labels(target.challenger.model, str(target.challenger.version), outcome).inc(texts)

    def _score_now(self, target: Target, texts: list[str], ids: list[str]) -> None:
        """On a worker thread: load the challenger (the model cache), predict, redact as the log does, record."""
        from tunelab.inference.serialize import prediction_to_dict

        started = time.perf_counter()
        predictor = self.models.load_path(target.challenger.run_path)
        predictions = predictor.predict(texts, batch_size=self.batch_size)
        latency = (time.perf_counter() - started) * 1000.0
        stored = self.redactors.for_target("model", target.challenger.model).redact_many(texts)
        record_answers(self.store, [
            ShadowAnswer(target.stage.id, pid, target.challenger.version,
                         redact_output(prediction_to_dict(p), redacted), latency)
            for pid, p, redacted in zip(ids, predictions, stored, strict=True)])

    def forget(self) -> None:
        """Drop the cached stages (a stage opened or closed through another process)."""
        with self._lock:
            self._targets.clear()

    async def drain(self) -> None:
        """Wait for the shadow work under way (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _executor(self) -> ThreadPoolExecutor:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="tunelab-shadow", initializer=lower_priority)
        return self._worker

    def close(self) -> None:
        """Stop the worker thread (after `drain`); a later job starts a new one."""
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            self._worker = None
