"""Micro-batching: the MicroBatcher on its own with fake inference, then through the server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Hashable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tunelab.serving.batcher import Job, MicroBatcher


class FakeModel:
    """Records every batch; answers each text with its upper-case form (so answers can be traced to callers)."""

    def __init__(self, fail_when: str | None = None, delay: float = 0.0) -> None:
        self.batches: list[tuple[Hashable, list[list[str]]]] = []
        self.fail_when = fail_when
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, key: Hashable, jobs: list[Job]) -> list[Any]:
        self.threads.add(threading.current_thread().name)
        self.batches.append((key, [list(job.texts) for job in jobs]))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_when is not None and any(self.fail_when in text for job in jobs for text in job.texts):
            raise RuntimeError("model exploded")
        return [[f"{key}:{text.upper()}" for text in job.texts] for job in jobs]

    def sizes(self) -> list[int]:
        return [sum(len(texts) for texts in jobs) for _, jobs in self.batches]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_concurrent_requests_share_batches_and_get_their_own_answers() -> None:
    model = FakeModel()

    async def main() -> list[Any]:
        batcher = MicroBatcher(model, max_batch_size=8, max_wait_ms=50)
        try:
            return await asyncio.gather(*(batcher.submit("m", [f"t{i}a", f"t{i}b"][: 1 + i % 2]) for i in range(16)))
        finally:
            await batcher.close()

    results = run(main())
    for i, result in enumerate(results):
        assert result == [f"m:T{i}A", f"m:T{i}B"][: 1 + i % 2]
    sizes = model.sizes()
    assert sum(sizes) == 24
    assert max(sizes) > 1 and all(size <= 8 for size in sizes)
    assert len(model.batches) <= 6  # 24 texts in batches of up to 8: grouped, not one pass per request
    # requests are taken in arrival order
    order = [text for _, jobs in model.batches for texts in jobs for text in texts]
    assert order == [text for i in range(16) for text in [f"t{i}a", f"t{i}b"][: 1 + i % 2]]
    assert model.threads == {next(iter(model.threads))}  # one inference thread


def test_max_batch_size_is_respected() -> None:
    model = FakeModel()

    async def main() -> None:
        batcher = MicroBatcher(model, max_batch_size=3, max_wait_ms=20)
        try:
            results = await asyncio.gather(*(batcher.submit("m", [f"x{i}"]) for i in range(10)))
        finally:
            await batcher.close()
        assert results == [[f"m:X{i}"] for i in range(10)]

    run(main())
    assert all(size <= 3 for size in model.sizes()) and max(model.sizes()) == 3
    assert sum(model.sizes()) == 10


def test_separate_keys_never_share_a_batch() -> None:
    model = FakeModel()

    async def main() -> list[Any]:
        batcher = MicroBatcher(model, max_batch_size=16, max_wait_ms=20)
        try:
            return await asyncio.gather(*(batcher.submit(("m", i % 2), [f"x{i}"]) for i in range(8)))
        finally:
            await batcher.close()

    results = run(main())
    assert results == [[f"{('m', i % 2)}:X{i}"] for i in range(8)]
    for key, jobs in model.batches:
        assert {int(texts[0][1:]) % 2 for texts in jobs} == {key[1]}


def test_an_infer_error_fails_only_the_offending_request() -> None:
    model = FakeModel(fail_when="boom")

    async def main() -> tuple[list[Any], Any]:
        batcher = MicroBatcher(model, max_batch_size=2, max_wait_ms=20)
        try:
            # batches of 2 in arrival order: [ok0, ok1], [boom, ok3], [ok4, ok5]
            first = await asyncio.gather(*(batcher.submit("m", [text]) for text in
                                           ("ok0", "ok1", "boom", "ok3", "ok4", "ok5")), return_exceptions=True)
            after = await batcher.submit("m", ["later"])  # the lane's worker survived
            return first, after
        finally:
            await batcher.close()

    first, after = run(main())
    assert first[0] == ["m:OK0"] and first[1] == ["m:OK1"]
    # the failing batch is retried one request at a time: only "boom" fails, its batch-mate succeeds
    assert isinstance(first[2], RuntimeError) and first[3] == ["m:OK3"]
    assert first[4] == ["m:OK4"] and first[5] == ["m:OK5"]
    assert after == ["m:LATER"]


def test_a_finish_error_fails_only_its_batch() -> None:
    model = FakeModel()

    def finish(key: Hashable, jobs: list[Job], results: list[Any]) -> list[Any]:
        if any("bad" in t for job in jobs for t in job.texts):
            raise ValueError("log write failed")
        return [[f"logged {r}" for r in result] for result in results]

    async def main() -> list[Any]:
        batcher = MicroBatcher(model, finish, max_batch_size=1, max_wait_ms=0)
        try:
            return await asyncio.gather(batcher.submit("m", ["a"]), batcher.submit("m", ["bad"]),
                                        batcher.submit("m", ["c"]), return_exceptions=True)
        finally:
            await batcher.close()

    results = run(main())
    assert results[0] == ["logged m:A"] and results[2] == ["logged m:C"]
    assert isinstance(results[1], ValueError)


def test_a_request_larger_than_the_batch_runs_alone() -> None:
    model = FakeModel()

    async def main() -> list[Any]:
        batcher = MicroBatcher(model, max_batch_size=4, max_wait_ms=20)
        try:
            return await asyncio.gather(batcher.submit("m", [f"big{i}" for i in range(10)]),
                                        batcher.submit("m", ["small"]))
        finally:
            await batcher.close()

    big, small = run(main())
    assert big == [f"m:BIG{i}" for i in range(10)] and small == ["m:SMALL"]
    assert model.batches[0][1] == [[f"big{i}" for i in range(10)]]  # not split, not joined
    assert model.sizes() == [10, 1]


def test_a_lone_request_waits_at_most_max_wait() -> None:
    model = FakeModel()

    async def main() -> float:
        batcher = MicroBatcher(model, max_batch_size=64, max_wait_ms=30)
        try:
            started = time.perf_counter()
            assert await batcher.submit("m", ["solo"]) == ["m:SOLO"]
            return time.perf_counter() - started
        finally:
            await batcher.close()

    elapsed = run(main())
    assert 0.025 <= elapsed < 2.0


def test_a_full_batch_does_not_wait() -> None:
    model = FakeModel()

    async def main() -> float:
        batcher = MicroBatcher(model, max_batch_size=4, max_wait_ms=5000)
        try:
            started = time.perf_counter()
            await asyncio.gather(*(batcher.submit("m", [f"x{i}"]) for i in range(4)))
            return time.perf_counter() - started
        finally:
            await batcher.close()

    assert run(main()) < 2.0  # the 5 s wait is cut short once max_batch_size texts are queued
    assert model.sizes() == [4]


def test_closed_batcher_refuses_and_fails_pending() -> None:
    model = FakeModel(delay=0.2)

    async def main() -> Any:
        batcher = MicroBatcher(model, max_batch_size=1, max_wait_ms=0)
        running = asyncio.ensure_future(batcher.submit("m", ["first"]))
        queued = asyncio.ensure_future(batcher.submit("m", ["second"]))
        await asyncio.sleep(0.05)  # "first" is on the inference thread, "second" waits in the lane
        await batcher.close()
        with pytest.raises(RuntimeError, match="shut down"):
            await batcher.submit("m", ["third"])
        running.cancel()  # see test_close_answers_in_flight_requests
        return (await asyncio.gather(queued, return_exceptions=True))[0]

    second = run(main())
    assert isinstance(second, RuntimeError) and "shutting down" in str(second)


def test_close_answers_in_flight_requests() -> None:
    model = FakeModel(delay=0.2)

    async def main() -> Any:
        batcher = MicroBatcher(model, max_batch_size=1, max_wait_ms=0)
        running = asyncio.ensure_future(batcher.submit("m", ["first"]))
        await asyncio.sleep(0.05)
        await batcher.close()
        done, _ = await asyncio.wait([running], timeout=0.8)
        if not done:
            running.cancel()
        return bool(done)

    assert run(main()), "the in-flight request was neither answered nor failed"


# ---- through the server ----------------------------------------------------------------------------------------


def test_concurrent_http_requests_are_batched(make_server) -> None:
    server = make_server(max_wait_ms=100.0, max_batch_size=32)
    headers = server.headers("predict")
    url = "/v1/models/intents/predict"
    assert server.client.post(url, json={"inputs": ["warm up"]}, headers=headers).status_code == 200

    barrier = threading.Barrier(16)
    answers: dict[int, Any] = {}

    def call(i: int) -> None:
        barrier.wait(timeout=10)
        answers[i] = server.client.post(url, json={"inputs": [f"where is parcel {i}"]}, headers=headers)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers) == list(range(16))
    ids = set()
    for i, response in answers.items():
        assert response.status_code == 200, response.text
        (prediction,) = response.json()["predictions"]
        ids.add(prediction["id"])
        assert server.store.get_prediction(prediction["id"])["text"] == f"where is parcel {i}"
    assert len(ids) == 16

    text = server.client.get("/metrics", headers=server.headers()).text
    buckets = {s.labels["le"]: s.value for family in text_string_to_metric_families(text)
               for s in family.samples if s.name == "tunelab_batch_size_bucket" and s.labels["model"] == "intents"}
    count = next(s.value for family in text_string_to_metric_families(text)
                 for s in family.samples if s.name == "tunelab_batch_size_count")
    assert buckets["+Inf"] == count
    assert count - buckets["1.0"] >= 1, buckets  # at least one forward pass held more than one text
    assert count < 17  # fewer forward passes than requests
