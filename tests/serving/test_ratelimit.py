"""Token-bucket rate limiter, driven by a fake clock."""

from __future__ import annotations

import threading

import pytest

from tunelab.errors import UsageError
from tunelab.serving.ratelimit import RateLimiter


class FakeClock:
    """A settable clock; optionally ticks forward on every read (thread-safe)."""

    def __init__(self, start: float = 1000.0, tick: float = 0.0) -> None:
        self.now = start
        self.tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.tick
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def test_burst_allowed_then_refused_with_the_right_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=2.0, burst=5, clock=clock)
    assert [limiter.acquire("k") for _ in range(5)] == [0.0] * 5
    assert limiter.acquire("k") == pytest.approx(0.5)  # 1 token at 2/s
    assert limiter.acquire("k", cost=3) == pytest.approx(1.5)
    clock.advance(0.25)
    assert limiter.acquire("k") == pytest.approx(0.25)  # refused calls took nothing: still half a token


def test_refills_over_time_up_to_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=10.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.acquire("k")
    assert limiter.acquire("k") > 0
    clock.advance(0.1)
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0
    clock.advance(3600)  # a long pause refills to burst, no more
    assert [limiter.acquire("k") for _ in range(3)] == [0.0] * 3
    assert limiter.acquire("k") == pytest.approx(0.1)


def test_fractional_cost() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert limiter.acquire("k", cost=0.5) == 0.0
    assert limiter.acquire("k", cost=0.5) == 0.0
    assert limiter.acquire("k", cost=0.5) == pytest.approx(0.5)
    assert limiter.acquire("k", cost=0) == 0.0


def test_keys_are_isolated() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock)
    assert limiter.acquire("a") == 0.0 and limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0 and limiter.acquire("b") == 0.0
    assert limiter.acquire("b") > 0


def test_per_key_override() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert [limiter.acquire("vip", rate=100.0, burst=10) for _ in range(10)] == [0.0] * 10
    assert limiter.acquire("vip", rate=100.0, burst=10) == pytest.approx(0.01)
    assert limiter.acquire("free") == 0.0
    assert limiter.acquire("free") == pytest.approx(1.0)
    # Downgrading a key keeps its tokens, capped at the new burst.
    clock.advance(1.0)
    assert limiter.acquire("vip", rate=1.0, burst=2) == 0.0
    assert limiter.acquire("vip", rate=1.0, burst=2) == 0.0
    assert limiter.acquire("vip", rate=1.0, burst=2) == pytest.approx(1.0)
    assert limiter.acquire("other", rate=0) == 0.0  # a per-key unlimited override


def test_unlimited_mode() -> None:
    limiter = RateLimiter(rate_per_s=0, burst=0, clock=FakeClock())
    assert all(limiter.acquire("k", cost=1e6) == 0.0 for _ in range(1000))
    assert len(limiter) == 0  # nothing stored
    assert limiter.acquire("paid", rate=1.0, burst=1) == 0.0
    assert limiter.acquire("paid", rate=1.0, burst=1) == pytest.approx(1.0)
    with pytest.raises(UsageError):
        limiter.acquire("paid", rate=1.0)  # limited key, no burst anywhere


def test_idle_full_buckets_are_dropped_and_keys_are_capped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock, max_keys=50)
    for i in range(40):
        limiter.acquire(f"k{i}")
    assert len(limiter) == 40
    clock.advance(10)  # every bucket has refilled: dropping them changes no answer
    limiter.acquire("fresh")
    assert len(limiter) == 1
    for i in range(200):
        limiter.acquire(f"x{i}")
    assert len(limiter) == 50
    # Dropped buckets come back full, exactly as if kept.
    clock.advance(10)
    assert limiter.acquire("k0") == 0.0 and limiter.acquire("k0") == 0.0 and limiter.acquire("k0") > 0


@pytest.mark.parametrize(
    ("kwargs", "call"),
    [
        ({"rate_per_s": 1.0, "burst": 0}, None),
        ({"rate_per_s": float("nan"), "burst": 1}, None),
        ({"rate_per_s": 1.0, "burst": 1, "max_keys": 0}, None),
        ({"rate_per_s": 1.0, "burst": 2}, {"key": "k", "cost": 3}),
        ({"rate_per_s": 1.0, "burst": 2}, {"key": "k", "cost": -1}),
        ({"rate_per_s": 1.0, "burst": 2}, {"key": 7}),
        ({"rate_per_s": 1.0, "burst": 2}, {"key": "k", "burst": 0.5}),
    ],
)
def test_bad_arguments_raise(kwargs: dict, call: dict | None) -> None:
    with pytest.raises(UsageError):
        RateLimiter(**kwargs, clock=FakeClock()).acquire(**(call or {"key": "k"}))


def test_thread_safety_never_over_grants() -> None:
    clock = FakeClock(tick=0.0001)  # time moves on every read, from whichever thread
    rate, burst = 50.0, 20
    limiter = RateLimiter(rate_per_s=rate, burst=burst, clock=clock)
    start = clock.now
    granted = [0] * 16

    def worker(slot: int) -> None:
        for _ in range(400):
            if limiter.acquire("shared") == 0.0:
                granted[slot] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = clock.now - start
    total = sum(granted)
    assert burst < total <= burst + rate * elapsed + 1e-6
