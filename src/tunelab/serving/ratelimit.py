"""A thread-safe token-bucket rate limiter keyed by string (an API key id).

Each key has a bucket holding up to `burst` tokens that refills at `rate_per_s`; a request costing `cost`
tokens is let through when the bucket holds that many. A refused request takes nothing and is told how long to
wait, which maps directly onto an HTTP 429 `Retry-After`.

Memory stays bounded: a bucket that has refilled to `burst` is exactly what a new key would get, so idle keys
whose buckets are full are dropped without changing any answer; on top of that at most `max_keys` buckets are
kept, evicting the least recently used (which may hand that key a fresh, full bucket: slightly lenient,
never stricter).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tunelab.errors import UsageError

#: Default cap on the number of buckets held at once.
MAX_KEYS = 100_000


@dataclass
class _Bucket:
    """Mutable state of one key, only ever touched under the limiter's lock."""

    tokens: float
    updated: float
    rate: float
    burst: float

    def refill(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0.0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)  # a clock that steps back neither refills nor drains

    def full_at(self, now: float) -> bool:
        return self.tokens + max(0.0, now - self.updated) * self.rate >= self.burst


def _check_rate(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise UsageError(f"{name} must be a number, got {value!r}")
    return float(value)


def _check_burst(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 1:
        raise UsageError(f"{name} must be a finite number >= 1, got {value!r}")
    return float(value)


class RateLimiter:
    """Token buckets per key: `burst` requests at once, then `rate_per_s` on average.

    `rate_per_s <= 0` means unlimited (every acquire returns 0.0 and nothing is stored). `clock` returns
    seconds as a float and must be monotonic; tests pass a fake one.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.rate_per_s = _check_rate("rate_per_s", rate_per_s)
        # The burst only matters when limited; an unlimited limiter accepts any number (even 0).
        if self.rate_per_s > 0:
            self.burst = _check_burst("burst", burst)
        elif isinstance(burst, bool) or not isinstance(burst, int | float):
            raise UsageError(f"burst must be a number, got {burst!r}")
        else:
            self.burst = float(burst)
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise UsageError(f"max_keys must be an integer >= 1, got {max_keys!r}")
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        """How many keys currently hold a bucket."""
        with self._lock:
            return len(self._buckets)

    def acquire(self, key: str, cost: float = 1.0, rate: float | None = None, burst: float | None = None) -> float:
        """Take `cost` tokens from `key`'s bucket: 0.0 if taken, else seconds until they will be there.

        `rate`/`burst` override the limiter's defaults for this key (pass them on every call, e.g. from the
        key's plan); a key whose override changes keeps its tokens, capped at the new burst.
        """
        if not isinstance(key, str):
            raise UsageError(f"key must be a string, got {type(key).__name__}")
        limits = self.limits_for(cost, rate, burst)
        if limits is None:
            return 0.0
        key_rate, key_burst = limits
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(tokens=key_burst, updated=now, rate=key_rate, burst=key_burst)
                self._buckets[key] = bucket
            else:
                bucket.refill(now)  # at the old rate up to now, then the new parameters apply
                self._buckets.move_to_end(key)
                if bucket.rate != key_rate or bucket.burst != key_burst:
                    bucket.rate, bucket.burst = key_rate, key_burst
                    bucket.tokens = min(bucket.tokens, key_burst)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                wait = 0.0
            else:
                wait = (cost - bucket.tokens) / key_rate
            self._evict(now)
            return wait

    def limits_for(self, cost: float, rate: float | None = None, burst: float | None = None
                   ) -> tuple[float, float] | None:
        """The checked (rate, burst) a request of `cost` is held to; None when it costs nothing or is unlimited.
        UsageError for a bad value, or a cost that the burst could never grant."""
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost) or cost < 0:
            raise UsageError(f"cost must be a finite number >= 0, got {cost!r}")
        key_rate = self.rate_per_s if rate is None else _check_rate("rate", rate)
        if key_rate <= 0.0:
            return None
        if burst is not None:
            key_burst = _check_burst("burst", burst)
        elif self.rate_per_s > 0:
            key_burst = self.burst
        else:
            raise UsageError("a key given its own rate needs its own burst too: the limiter's default is unlimited")
        if cost > key_burst:
            raise UsageError(f"cost {cost:g} exceeds the burst of {key_burst:g}: it could never be granted")
        return None if cost == 0 else (key_rate, key_burst)

    def close(self) -> None:
        """Nothing to release (the shared limiter's pool is closed the same way)."""

    def _evict(self, now: float) -> None:
        """Drop full (idle) buckets from the old end, then enforce the key cap. Amortised O(1) per call."""
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if not oldest.full_at(now):
                break
            buckets.popitem(last=False)
        while len(buckets) > self.max_keys:
            buckets.popitem(last=False)
