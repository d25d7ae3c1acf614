#!/usr/bin/env python
"""Low-overhead closed-loop HTTP load generator for the serving benchmark (loopback only).

N clients, each on its own keep-alive HTTP/1.1 connection (asyncio streams, uvloop when installed),
send one request at a time for a warm-up plus D seconds. Every request body is `{"inputs": [text]}`
with the next text of a shared cycle over the texts file (one text per line); the request bytes are
built once up front. Responses are parsed by hand: status line, headers, Content-Length (or chunked)
body. Only requests that complete inside the measured window (after the warm-up) are counted; any
non-2xx status, timeout, refused or broken connection counts as an error.

    .venv/bin/python benchmarks/loadgen.py --url http://127.0.0.1:8100/v1/models/bench/predict \\
        --concurrency 16 --duration 30 --texts texts.txt [--header 'Authorization: Bearer KEY'] --json out.json

Output (stdout, and --json FILE): requests, rps, p50/p95/p99/mean/min/max latency in ms, errors and
errors_by_kind, status_counts, loadgen_cpu_percent (this process's CPU time over the measured window
/ its wall time * 100, i.e. percent of one core). Header values are never written out.
Everything stops by itself: at most warm-up + duration + --timeout + 2 s after the start.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ipaddress
import json
import math
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "tunelab-loadgen/1"


class LoopbackOnlyError(ValueError):
    pass


def check_loopback_url(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an http:// URL whose host is a loopback address; anything else raises."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise LoopbackOnlyError(f"only plain http:// URLs are supported, not {parts.scheme or 'none'}://")
    host = parts.hostname
    if not host:
        raise LoopbackOnlyError(f"no host in {url!r}")
    port = parts.port or 80
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: only 'localhost', and no DNS lookups
        loopback = host.lower() == "localhost"
    if not loopback:
        raise LoopbackOnlyError(f"refusing non-loopback host {host!r}: this load generator only targets "
                                "127.0.0.0/8, ::1 or localhost")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port, path


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or any(c in text for c in "\r\n") or " " in name:
        raise ValueError(f"bad header {text.split(':', 1)[0]!r}: expected 'Name: value' on one line")
    return name, value


def read_texts(path: Path) -> list[str]:
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError(f"no texts in {path}")
    return texts


def build_requests(host: str, port: int, path: str, texts: list[str],
                   headers: list[tuple[str, str]]) -> list[bytes]:
    """One complete HTTP/1.1 request (head + JSON body) per text, built once."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    out = []
    for text in texts:
        body = json.dumps({"inputs": [text]}, ensure_ascii=False).encode("utf-8")
        head = (f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {USER_AGENT}\r\n"
                f"Content-Type: application/json\r\nAccept: application/json\r\n{extra}"
                f"Content-Length: {len(body)}\r\n\r\n")
        out.append(head.encode("latin-1") + body)
    return out


def percentile(ordered: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) on an ascending list."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class ProtocolError(Exception):
    pass


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server wants the connection closed) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(status_line[1])
    length, chunked, close = None, False, status_line[0] == "HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            close = "close" in value.lower() or (close and "keep-alive" not in value.lower())
    if status in (204, 304) or 100 <= status < 200:
        return status, b"", close
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return status, b"".join(parts), close
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if length is not None:
        return status, await reader.readexactly(length), close
    return status, await reader.read(), True  # body delimited by the connection closing


@dataclass
class Stats:
    window_start: float
    window_end: float
    latencies_ms: list[float] = field(default_factory=list)
    status_counts: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    warmup_requests: int = 0
    warmup_errors: int = 0
    late_completions: int = 0
    connections_opened: int = 0
    sample_response: str | None = None

    def record(self, done: float, latency: float, status: int | None, error: str | None) -> None:
        if done < self.window_start:
            self.warmup_requests += 1
            self.warmup_errors += error is not None
        elif done > self.window_end:
            self.late_completions += 1
        else:
            if status is not None:
                self.status_counts[status] += 1
            if error is None:
                self.latencies_ms.append(latency * 1000.0)
            else:
                self.errors[error] += 1


async def client(requests: list[bytes], cursor: Iterator[int], host: str, port: int,
                 stats: Stats, timeout: float) -> None:
    """One closed-loop client: send, wait for the whole response, repeat until the window ends."""
    reader = writer = None
    try:
        while time.perf_counter() < stats.window_end:
            error: str | None = None
            status: int | None = None
            if writer is None:
                try:
                    async with asyncio.timeout(timeout):
                        reader, writer = await asyncio.open_connection(host, port)
                    stats.connections_opened += 1
                    sock = writer.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except (OSError, TimeoutError) as exc:
                    now = time.perf_counter()
                    stats.record(now, 0.0, None, "connect_timeout" if isinstance(exc, TimeoutError)
                                 else f"connect_{type(exc).__name__}")
                    reader = writer = None
                    await asyncio.sleep(0.05)  # a refused connect returns at once: don't spin
                    continue
            payload = requests[next(cursor) % len(requests)]
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    writer.write(payload)
                    await writer.drain()
                    status, body, close = await read_response(reader)
                if not 200 <= status < 300:
                    error = f"http_{status}"
                elif stats.sample_response is None:
                    stats.sample_response = body[:400].decode("utf-8", "replace")
            except TimeoutError:
                error, close = "timeout", True
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                error, close = f"connection_{type(exc).__name__}", True
            except (ProtocolError, ValueError, asyncio.LimitOverrunError, OSError) as exc:
                error, close = f"protocol_{type(exc).__name__}", True
            done = time.perf_counter()
            stats.record(done, done - started, status, error)
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def run_load(url: str, texts: list[str], concurrency: int, duration: float, warmup: float,
                   headers: list[tuple[str, str]], timeout: float) -> dict[str, Any]:
    import itertools

    host, port, path = check_loopback_url(url)
    requests = build_requests(host, port, path, texts, headers)
    start = time.perf_counter()
    stats = Stats(window_start=start + warmup, window_end=start + warmup + duration)
    cpu_marks: dict[str, tuple[float, float]] = {}

    def mark(name: str) -> None:
        cpu_marks[name] = (time.perf_counter(), time.process_time())

    loop = asyncio.get_running_loop()
    loop.call_at(loop.time() + warmup, mark, "window_start")
    mark("start")
    cursor = itertools.count()
    tasks = [asyncio.ensure_future(client(requests, cursor, host, port, stats, timeout))
             for _ in range(concurrency)]
    await asyncio.sleep(max(0.0, stats.window_end - time.perf_counter()))
    mark("window_end")
    # In-flight requests finish (bounded by --timeout) and are not counted; then everything stops.
    _, pending = await asyncio.wait(tasks, timeout=timeout + 1.0)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            stats.errors[f"client_{type(task.exception()).__name__}"] += 1
    mark("end")

    ordered = sorted(stats.latencies_ms)
    wall0, cpu0 = cpu_marks.get("window_start", cpu_marks["start"])
    wall1, cpu1 = cpu_marks["window_end"]
    measured = max(stats.window_end - stats.window_start, 1e-9)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    errors = sum(stats.errors.values())
    return {
        "url": url, "concurrency": concurrency, "duration_s": duration, "warmup_s": warmup,
        "texts": len(texts), "header_names": [name for name, _ in headers],
        "event_loop": type(loop).__module__.split(".")[0],
        "requests": len(ordered), "rps": round(len(ordered) / measured, 2),
        "p50_ms": ms(percentile(ordered, 50)), "p95_ms": ms(percentile(ordered, 95)),
        "p99_ms": ms(percentile(ordered, 99)),
        "mean_ms": ms(sum(ordered) / len(ordered) if ordered else None),
        "min_ms": ms(ordered[0] if ordered else None), "max_ms": ms(ordered[-1] if ordered else None),
        "errors": errors, "errors_by_kind": dict(stats.errors),
        "status_counts": {str(k): v for k, v in sorted(stats.status_counts.items())},
        "warmup_requests": stats.warmup_requests, "warmup_errors": stats.warmup_errors,
        "late_completions": stats.late_completions, "connections_opened": stats.connections_opened,
        "loadgen_cpu_percent": round(100.0 * (cpu1 - cpu0) / max(wall1 - wall0, 1e-9), 1),
        "loadgen_cpu_seconds": round(cpu1 - cpu0, 3),
        "loadgen_cpu_percent_total": round(100.0 * (cpu_marks["end"][1] - cpu_marks["start"][1])
                                           / max(cpu_marks["end"][0] - cpu_marks["start"][0], 1e-9), 1),
        "total_wall_s": round(cpu_marks["end"][0] - start, 3),
        "sample_response": stats.sample_response,
    }


def run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/path (loopback only)")
    parser.add_argument("--texts", type=Path, required=True, help="UTF-8 file, one text per line")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds (after the warm-up)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request (and per connect) seconds")
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="extra request header (repeatable), e.g. 'Authorization: Bearer KEY'")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.warmup < 0 or args.timeout <= 0:
        parser.error("need --concurrency >= 1, --duration > 0, --warmup >= 0, --timeout > 0")
    try:
        check_loopback_url(args.url)
        headers = [parse_header(h) for h in args.header]
        texts = read_texts(args.texts)
    except (ValueError, OSError) as exc:
        print(f"loadgen: error: {exc}", file=sys.stderr)
        return 2
    result = run(run_load(args.url, texts, args.concurrency, args.duration, args.warmup, headers, args.timeout))
    result["pid"] = os.getpid()
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, args.json)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
