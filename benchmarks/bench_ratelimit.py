#!/usr/bin/env python
"""Added latency of the shared rate limit: one PostgreSQL upsert per request against the in-process token bucket.

Creates a scratch database next to the one `--db` names (its role needs CREATEDB), runs the registry migrations
there, times `SharedRateLimiter.acquire` (one key, one thread: the added latency per request; then 8 threads on
8 keys and on one hot key: contention on the bucket's row) and `RateLimiter.acquire`, prints a Markdown table,
and drops the scratch database.

    .venv/bin/python benchmarks/bench_ratelimit.py [--db postgresql+psycopg://tunelab:tunelab@127.0.0.1:5432/tunelab_test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tunelab.registry import Store
from tunelab.serving.ratelimit import RateLimiter
from tunelab.serving.replicas import SharedRateLimiter

DEFAULT_DB = "postgresql+psycopg://tunelab:tunelab@127.0.0.1:5432/tunelab_test"


def timings_us(acquire: Any, keys: list[str], calls: int) -> list[float]:
    out = []
    for i in range(calls):
        started = time.perf_counter()
        acquire(keys[i % len(keys)])
        out.append((time.perf_counter() - started) * 1e6)
    return out


def ping(engine: Any) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1")).scalar_one()


def threaded(acquire: Any, keys: list[str], threads: int, calls: int) -> tuple[float, list[float]]:
    """(requests per second, per-call microseconds) with `threads` callers, caller i on keys[i % len(keys)]."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda i: timings_us(acquire, [keys[i % len(keys)]], calls), range(threads)))
    elapsed = time.perf_counter() - started
    return threads * calls / elapsed, [t for part in parts for t in part]


def row(name: str, samples: list[float], rate: float | None = None) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    shown = f"{rate:,.0f}" if rate else "-"
    return (f"| {name} | {statistics.median(ordered):.1f} | {pick(0.95):.1f} | {pick(0.99):.1f} | {shown} |")


def run(url: str, calls: int) -> None:
    limit = {"rate_per_s": 1e6, "burst": 10**6}  # never refuses: every call does the full update
    local = RateLimiter(**limit)
    store = Store(url)
    try:
        shared = SharedRateLimiter(store.engine, **limit)
        shared.acquire("warm-up")
        lines = ["| limiter | median µs | p95 µs | p99 µs | calls/s (8 threads) |", "|---|---|---|---|---|",
                 row("in-process token bucket, 1 thread", timings_us(local.acquire, ["k"], calls * 10)),
                 row("PostgreSQL `SELECT 1` round trip (the floor), 1 thread",
                     timings_us(lambda _k: ping(shared.engine), ["k"], calls)),
                 row("PostgreSQL bucket, 1 thread", timings_us(shared.acquire, ["k"], calls))]
        rate, samples = threaded(shared.acquire, [f"k{i}" for i in range(8)], 8, calls // 8)
        lines.append(row("PostgreSQL buckets, 8 threads, 8 keys", samples, rate))
        rate, samples = threaded(shared.acquire, ["hot"], 8, calls // 8)
        lines.append(row("PostgreSQL bucket, 8 threads, 1 hot key", samples, rate))
        print("\n".join(lines))
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("TUNELAB_TEST_PG_URL") or DEFAULT_DB)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    base = sa.make_url(args.db)
    admin = sa.create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = f"tunelab_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        run(base.set(database=name).render_as_string(hide_password=False), args.calls)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
