"""Micro-batching: requests for the same model version that arrive together share one forward pass.

Each model version has a queue and a worker task. The worker takes the first waiting request, waits at
most `max_wait_ms` for company (or until `max_batch_size` texts are waiting), runs the batch on the single
inference thread (torch already uses every core inside one forward pass), then hands the results to
`finish` on a second thread (the prediction log write) and answers the requests only after it returns,
so a prediction id that was answered is already in the log. While one batch is being logged, the next
one is already running.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Infer = Callable[[Hashable, list["Job"]], list[Any]]  # one result per job, in order
Finish = Callable[[Hashable, list["Job"], list[Any]], list[Any]]


@dataclass(eq=False)  # identity semantics: jobs live in sets while in flight
class Job:
    texts: list[str]
    meta: Any
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class _Lane:
    def __init__(self) -> None:
        self.pending: deque[Job] = deque()
        self.inflight: set[Job] = set()  # taken from the queue, not answered yet
        self.wake = asyncio.Event()
        self.worker: asyncio.Task | None = None


class MicroBatcher:
    def __init__(self, infer: Infer, finish: Finish | None = None, *, max_batch_size: int = 32,
                 max_wait_ms: float = 2.0) -> None:
        self.infer = infer
        self.finish = finish
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self._lanes: dict[Hashable, _Lane] = {}
        self._infer_pool = ThreadPoolExecutor(1, thread_name_prefix="tunelab-infer")
        self._finish_pool = ThreadPoolExecutor(1, thread_name_prefix="tunelab-log")
        self._closed = False

    async def submit(self, key: Hashable, texts: Sequence[str], meta: Any = None) -> Any:
        """Queue `texts` for the model version `key`; returns this job's result once its batch is done."""
        if self._closed:
            raise RuntimeError("the batcher is shut down")
        loop = asyncio.get_running_loop()
        job = Job(list(texts), meta, loop.create_future())
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        if lane.worker is None or lane.worker.done():
            lane.worker = loop.create_task(self._work(key, lane), name=f"batcher-{key}")
        lane.pending.append(job)
        lane.wake.set()
        return await job.future

    async def _work(self, key: Hashable, lane: _Lane) -> None:
        try:
            await self._loop(key, lane)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug here must not leave requests waiting forever
            _fail(list(lane.pending) + list(lane.inflight), exc)
            lane.pending.clear()
            raise

    async def _loop(self, key: Hashable, lane: _Lane) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            while not lane.pending:
                lane.wake.clear()
                await lane.wake.wait()
            deadline = loop.time() + self.max_wait
            while self._waiting_texts(lane) < self.max_batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                lane.wake.clear()
                try:
                    await asyncio.wait_for(lane.wake.wait(), remaining)
                except TimeoutError:
                    break
            jobs = self._take(lane)
            lane.inflight.update(jobs)
            try:
                results = await loop.run_in_executor(self._infer_pool, self.infer, key, jobs)
            except Exception as exc:  # noqa: BLE001
                if len(jobs) == 1:
                    _fail(jobs, exc)
                    lane.inflight.difference_update(jobs)
                    continue
                # one bad request must not fail the others it was batched with: retry each alone
                for job in jobs:
                    try:
                        alone = await loop.run_in_executor(self._infer_pool, self.infer, key, [job])
                    except Exception as single_exc:  # noqa: BLE001
                        _fail([job], single_exc)
                        lane.inflight.discard(job)
                    else:
                        loop.create_task(self._deliver(lane, key, [job], alone))
                continue
            loop.create_task(self._deliver(lane, key, jobs, results))

    async def _deliver(self, lane: _Lane, key: Hashable, jobs: list[Job], results: list[Any]) -> None:
        try:
            if self.finish is not None:
                results = await asyncio.get_running_loop().run_in_executor(
                    self._finish_pool, self.finish, key, jobs, results)
            for job, result in zip(jobs, results):
                if not job.future.done():
                    job.future.set_result(result)
        except Exception as exc:  # noqa: BLE001
            _fail(jobs, exc)
        finally:
            lane.inflight.difference_update(jobs)

    def _waiting_texts(self, lane: _Lane) -> int:
        return sum(len(j.texts) for j in lane.pending)

    def _take(self, lane: _Lane) -> list[Job]:
        jobs = [lane.pending.popleft()]
        count = len(jobs[0].texts)
        while lane.pending and count + len(lane.pending[0].texts) <= self.max_batch_size:
            job = lane.pending.popleft()
            jobs.append(job)
            count += len(job.texts)
        return jobs

    @property
    def closed(self) -> bool:
        return self._closed

    def queued(self) -> int:
        return sum(len(lane.pending) for lane in self._lanes.values())

    async def close(self) -> None:
        """Refuse new work; every queued or in-flight request gets an error rather than waiting forever."""
        self._closed = True
        stopping = RuntimeError("the server is shutting down")
        for lane in self._lanes.values():
            if lane.worker is not None:
                lane.worker.cancel()
            _fail(list(lane.pending) + list(lane.inflight), stopping)
            lane.pending.clear()
        loop = asyncio.get_running_loop()
        for pool in (self._infer_pool, self._finish_pool):  # without blocking the event loop
            await loop.run_in_executor(None, pool.shutdown, True)


def _fail(jobs: list[Job], exc: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(exc)
