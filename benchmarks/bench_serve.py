#!/usr/bin/env python
"""Serving benchmark: TuneLab's server vs a naive FastAPI + transformers `pipeline` baseline.

Both servers serve the same fine-tuned classifier run folder on loopback, one after the other (never
at the same time; before each the script waits for an idle CPU as bench_train.py does). For each, a
separate load-generator process (benchmarks/loadgen.py) runs N closed-loop keep-alive clients (default
16) for D seconds (default 30) after a 3 s warm-up, one text per request, cycling through Banking77
test questions. Reported per server: requests/s, p50/p95/p99 latency, errors, the server's peak RSS
and CPU use, and the load generator's own CPU use (it shares the machine's cores with the server).

    make bench-serve         # = .venv/bin/python benchmarks/bench_serve.py
    make bench-serve-quick   # = .venv/bin/python benchmarks/bench_serve.py --quick (10 s, not recorded)

Targets: TuneLab throughput >= 5x the baseline, TuneLab p99 <= baseline p99 / 3, zero TuneLab errors.
Results go to benchmarks/results/serve.json and the "Serving" section of benchmarks/RESULTS.md
(between `<!-- bench-serve start/end -->`); --quick writes benchmarks/work/serve/serve-quick.json only,
unless --record is given.

TuneLab side (CLI contract): `tunelab models register RUN --name bench --alias production --db DB`,
`tunelab keys create --name bench --scopes predict --db DB --quiet` (prints the key),
`tunelab serve --db DB --host 127.0.0.1 --port P --log-level warning [--serve-args ...]`, ready when
`GET /v1/ready` is 200; requests `POST /v1/models/bench/predict` with `Authorization: Bearer KEY`.
The registry DB is a SQLite file in a temporary folder, removed afterwards. When `tunelab serve` has a
`--rate-per-s` option, `--rate-per-s 0` is passed (no per-key rate limit: this measures capacity, and the
baseline has no limit either); --keep-rate-limit keeps the server's default.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402  (sibling script: shared idle-wait, machine info and atomic writers)
from bench_train import (  # noqa: E402
    BENCH,
    CHILD_ENV,
    DATA,
    ROOT,
    children_cpu_seconds,
    cpu_busy_seconds,
    fmt_num,
    machine_info,
    wait_for_idle,
    write_json_atomic,
    write_text_atomic,
)

DEMO = ROOT / "src" / "tunelab" / "demo_data"
DEFAULT_RUN = ROOT / "runs" / "bench-serve-model"
MODEL_NAME = "bench"
PREDICT_PATH = f"/v1/models/{MODEL_NAME}/predict"
READY_PATH = "/v1/ready"
TARGETS = {"throughput_ratio": 5.0, "p99_ratio": 3.0, "errors": 0}
SIDES = ("baseline", "tunelab")
TITLE = {"baseline": "FastAPI + pipeline", "tunelab": "TuneLab"}
MD_START, MD_END = "<!-- bench-serve start -->", "<!-- bench-serve end -->"


def log(message: str) -> None:
    print(f"[bench-serve {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


bench_train.log = log  # wait_for_idle() reports through its module's log(); label those lines as ours


class SetupError(RuntimeError):
    """A side could not be measured (missing command, server did not start...): reported, not raised."""


# --------------------------------------------------------------------------------------------------
# Inputs: the model run folder and the request texts
# --------------------------------------------------------------------------------------------------

def tunelab_exe() -> str:
    local = Path(sys.executable).parent / "tunelab"
    return str(local) if local.is_file() else (shutil.which("tunelab") or "tunelab")


def child_env() -> dict[str, str]:
    return {**os.environ, **CHILD_ENV}


def ensure_model(run: Path | None) -> Path:
    """The run folder to serve; the default one is trained with the TuneLab CLI when it has no manifest."""
    if run is not None:
        if not (run / "manifest.json").is_file():
            raise SystemExit(f"--run {run}: no manifest.json there (not a finished TuneLab run folder)")
        return run.resolve()
    if (DEFAULT_RUN / "manifest.json").is_file():
        return DEFAULT_RUN
    command = [tunelab_exe(), "train", "--data", str(DEMO / "support_train.csv"), "--test",
               str(DEMO / "support_test.csv"), "--epochs", "3", "--output", str(DEFAULT_RUN)]
    log(f"no model at {DEFAULT_RUN.relative_to(ROOT)}; training one (about 2 minutes): {shlex.join(command)}")
    done = subprocess.run(command, cwd=ROOT, env=child_env(), stdout=sys.stderr, timeout=3600)
    if done.returncode != 0 or not (DEFAULT_RUN / "manifest.json").is_file():
        raise SystemExit(f"training the benchmark model failed (exit {done.returncode})")
    return DEFAULT_RUN


def load_texts(limit: int, given: Path | None = None, seed: int = 0) -> tuple[list[str], str]:
    """`given` (one text per line), else Banking77 test questions (a seeded sample of `limit`; the file is
    sorted by intent), else the bundled demo questions and support test texts."""
    source = DATA / "banking77" / "test.csv"
    if given is not None:
        texts = given.read_text(encoding="utf-8").splitlines()
        note = f"texts from {given}"
    elif source.is_file():
        with open(source, encoding="utf-8", newline="") as handle:
            texts = [row["text"] for row in csv.DictReader(handle)]
        random.Random(seed).shuffle(texts)
        note = (f"Banking77 test questions, {min(limit, len(texts))} of {len(texts)} after a seeded shuffle "
                f"(seed {seed})")
    else:
        texts = (DEMO / "sample_questions.txt").read_text(encoding="utf-8").splitlines()
        with open(DEMO / "support_test.csv", encoding="utf-8", newline="") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)]
        note = "bundled demo texts (sample_questions.txt + support_test.csv; ../shared/data not found)"
    texts = [" ".join(t.split()) for t in texts if t.strip()][:limit]
    return texts, note


# --------------------------------------------------------------------------------------------------
# Servers: start, wait until ready, measure, stop
# --------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_call(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None,
              timeout: float = 10.0) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Server:
    """A server subprocess in its own session (so that any workers it forks stop with it)."""

    def __init__(self, name: str, command: list[str], port: int, log_path: Path) -> None:
        self.name, self.command, self.port, self.log_path = name, command, port, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float) -> float:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + ready_timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise SetupError(f"{self.name} server exited with status {self.proc.returncode} before it was "
                                 f"ready; last log lines:\n{tail(self.log_path)}")
            try:
                if http_call(self.port, "GET", READY_PATH, timeout=2.0)[0] == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.25)
        raise SetupError(f"{self.name} server not ready ({READY_PATH} != 200) after {ready_timeout:.0f}s; "
                         f"last log lines:\n{tail(self.log_path)}")

    def processes(self) -> list[psutil.Process]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def peak_rss_mb(self) -> tuple[float | None, int]:
        """Sum over the server's processes of their peak RSS (VmHWM) so far, and how many there are."""
        total, count = 0, 0
        for proc in self.processes():
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text(encoding="utf-8").splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
                        count += 1
            except (OSError, ValueError):
                pass
        return (round(total / 1024.0, 1) if count else None), count

    def stop(self, grace: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)  # our own session: the server and whatever it forked
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                log(f"{self.name} server still up {grace:.0f}s after SIGTERM; killing it")


def run_loadgen(side: str, port: int, args: argparse.Namespace, texts_file: Path, work: Path,
                headers: list[str]) -> dict[str, Any]:
    out = work / f"{side}.loadgen.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(BENCH / "loadgen.py"), "--url", f"http://127.0.0.1:{port}{PREDICT_PATH}",
               "--concurrency", str(args.concurrency), "--duration", str(args.duration),
               "--warmup", str(args.warmup), "--timeout", str(args.request_timeout),
               "--texts", str(texts_file), "--json", str(out)]
    for header in headers:
        command += ["--header", header]
    limit = args.warmup + args.duration + args.request_timeout + 60
    done = subprocess.run(command, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=limit)
    if done.returncode != 0 or not out.is_file():
        raise SetupError(f"load generator failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def load_once(server: Server, args: argparse.Namespace, texts_file: Path, work: Path,
              headers: dict[str, str]) -> dict[str, Any]:
    """One load-generator run against a ready server, with the server's and other processes' CPU use."""
    busy0, server_cpu0, loadgen_cpu0 = cpu_busy_seconds(), server.cpu_seconds(), children_cpu_seconds()
    t0 = time.perf_counter()
    load = run_loadgen(server.name, server.port, args, texts_file, work, [f"{k}: {v}" for k, v in headers.items()])
    wall = time.perf_counter() - t0
    server_cpu = server.cpu_seconds() - server_cpu0
    loadgen_cpu = children_cpu_seconds() - loadgen_cpu0  # the whole generator process, start-up included
    others = max(0.0, cpu_busy_seconds() - busy0 - server_cpu - loadgen_cpu) / (wall * len(os.sched_getaffinity(0)))
    log(f"{server.name}: {load['rps']:.1f} req/s, p50 {fmt_num(load['p50_ms'])} ms, p99 "
        f"{fmt_num(load['p99_ms'])} ms, {load['errors']} errors, loadgen CPU {load['loadgen_cpu_percent']}% "
        f"of a core; other processes used {others:.0%} of the CPUs meanwhile")
    return {**load, "server_cpu_percent": round(100.0 * server_cpu / wall, 1), "other_cpu_share": round(others, 3)}


def measure(server: Server, args: argparse.Namespace, texts_file: Path, work: Path,
            headers: dict[str, str]) -> dict[str, Any]:
    """Start the server, check one request, run the load (again, up to --retries times, while other
    processes took more than --max-others of the CPUs; the least disturbed run is kept), stop the server."""
    others_before = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else None
    log(f"start {server.name}: {redact(server.command)}")
    result: dict[str, Any] = {"command": redact(server.command), "port": server.port,
                              "other_cpu_share_before": None if others_before is None else round(others_before, 3)}
    try:
        result["startup_seconds"] = round(server.start(args.ready_timeout), 2)
        status, body = http_call(server.port, "POST", PREDICT_PATH, {"inputs": ["where is my card?"]}, headers,
                                 timeout=30.0)
        if status != 200 or '"predictions"' not in body:
            raise SetupError(f"{server.name}: sanity request got HTTP {status}: {body[:300]}")
        result["sanity_response"] = body[:300]
        status, ready = http_call(server.port, "GET", "/v1/ready", None, headers, timeout=10.0)
        if status == 200 and "models_loaded" in ready:
            result["models_loaded"] = json.loads(ready)["models_loaded"]  # which artifact serves (TuneLab)
        result["server_peak_rss_before_load_mb"] = server.peak_rss_mb()[0]
        log(f"{server.name} ready in {result['startup_seconds']:.1f}s; {args.concurrency} clients for "
            f"{args.warmup:g}+{args.duration:g}s")
        best: dict[str, Any] | None = None
        for attempt in range(1 + max(0, args.retries)):
            if attempt:
                log(f"{server.name}: other processes used {best['other_cpu_share']:.0%} of the CPUs; measuring "
                    "again")
                if args.wait_idle > 0:
                    wait_for_idle(args.wait_idle)
            load = {**load_once(server, args, texts_file, work, headers), "attempt": attempt + 1}
            if best is None or load["other_cpu_share"] < best["other_cpu_share"]:
                best = load
            if best["other_cpu_share"] <= args.max_others:
                break
        assert best is not None
        rss_peak, processes = server.peak_rss_mb()
        result.update(best)
        result.update({"attempts": attempt + 1, "server_peak_rss_mb": rss_peak, "server_processes": processes})
    except (SetupError, subprocess.TimeoutExpired, OSError) as exc:
        log(f"FAILED {server.name}: {exc}")
        result["error"] = str(exc)
        result["log_tail"] = tail(server.log_path)
    finally:
        server.stop()
    return result


def redact(command: list[str]) -> str:
    return shlex.join([os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in command])


# --------------------------------------------------------------------------------------------------
# The two sides
# --------------------------------------------------------------------------------------------------

def baseline_side(run: Path, args: argparse.Namespace, texts_file: Path, work: Path) -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, str(BENCH / "serve_baseline.py"), "--model", str(run), "--port", str(port)]
    return measure(Server("baseline", command, port, work / "baseline.server.log"), args, texts_file, work, {})


def tunelab_cli(*argv: str, timeout: float = 120.0) -> str:
    """Run a `tunelab` subcommand; its stdout, or a SetupError that says what is missing."""
    command = [tunelab_exe(), *argv]
    try:
        done = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise SetupError(f"the tunelab command is not installed ({exc})") from exc
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()
        missing = re.findall(r"(No such command[^\n]*|No such option[^\n]*)", message)
        if missing:
            raise SetupError(f"`tunelab {' '.join(argv[:2])}` is not available in this TuneLab installation "
                             f"({missing[-1].strip()}); the TuneLab server CLI (models/keys/serve) is needed")
        raise SetupError(f"`tunelab {' '.join(argv[:2])}` failed (exit {done.returncode}): {message[-1500:]}")
    return done.stdout


def ensure_export(run: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """`tunelab export` (ONNX fp32 + dynamic int8, each behind the accuracy gate) as a user deploying the run
    would; the server then picks the fastest artifact that passed. The default demo model's carved dev set
    has 96 questions (one flip = 1.04 points), so its gate uses the 288 held-out test questions."""
    if not args.export:
        return None
    report = run / "artifacts" / "report.json"
    if not report.is_file():
        argv = ["export", str(run), "--quantize", "dynamic"]
        if run.resolve() == DEFAULT_RUN.resolve():
            argv += ["--data", str(DEMO / "support_test.csv")]
        log(f"exporting the model: tunelab {' '.join(argv)}")
        print(tunelab_cli(*argv, timeout=1800), file=sys.stderr)
    cards = json.loads(report.read_text(encoding="utf-8"))
    return {name: {k: card.get(k) for k in ("metric", "passed", "throughput_b32_per_s", "latency_b1_p50_ms")}
            for name, card in {"torch": cards["reference"], **cards["artifacts"]}.items()}


def tunelab_side(run: Path, args: argparse.Namespace, texts_file: Path, work: Path) -> dict[str, Any]:
    try:
        exported = ensure_export(run, args)
    except SetupError as exc:
        log(f"FAILED tunelab export: {exc}")
        return {"error": str(exc)}
    with tempfile.TemporaryDirectory(prefix="bench-serve-registry-") as tmp:
        db = f"sqlite:///{Path(tmp).resolve() / 'registry.db'}"
        try:
            for sub in ("models", "keys"):
                tunelab_cli(sub, "--help", timeout=60)
            serve_help = tunelab_cli("serve", "--help", timeout=60)
            tunelab_cli("models", "register", str(run), "--name", MODEL_NAME, "--alias", "production", "--db", db)
            key_lines = tunelab_cli("keys", "create", "--name", MODEL_NAME, "--scopes", "predict", "--db", db,
                                    "--quiet").strip().splitlines()
            if len(key_lines) != 1 or not key_lines[0].strip() or " " in key_lines[0].strip():
                raise SetupError(f"`tunelab keys create --quiet` should print only the key; got {len(key_lines)} "
                                 "line(s)")
        except (SetupError, subprocess.TimeoutExpired) as exc:
            log(f"FAILED tunelab: {exc}")
            return {"error": str(exc)}
        port = free_port()
        extra = shlex.split(args.serve_args)
        if not args.keep_rate_limit and "--rate-per-s" in serve_help and "--rate-per-s" not in extra:
            # A per-key rate limit turns the load into 429s; this benchmark measures capacity (the baseline has none).
            extra = ["--rate-per-s", "0", *extra]
        command = [tunelab_exe(), "serve", "--db", db, "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "warning", *extra]
        server = Server("tunelab", command, port, work / "tunelab.server.log")
        result = measure(server, args, texts_file, work, {"Authorization": f"Bearer {key_lines[0].strip()}"})
        result["command"] = result["command"].replace(str(Path(tmp).resolve()), "$TMP")
        result["export"] = exported
        return result


# --------------------------------------------------------------------------------------------------
# Report: targets, table, JSON, RESULTS.md
# --------------------------------------------------------------------------------------------------

MEDIAN_KEYS = ("rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "loadgen_cpu_percent", "server_cpu_percent")


def median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One side over its rounds: the round with the median throughput, with every headline number replaced
    by its median over the rounds and the per-round values kept (`rounds`). Errors add up."""
    good = [r for r in runs if "error" not in r and r.get("requests")]
    if not good:
        return runs[-1]
    ordered = sorted(good, key=lambda r: r["rps"])
    out = dict(ordered[(len(ordered) - 1) // 2])
    for key in MEDIAN_KEYS:
        values = [r[key] for r in good if r.get(key) is not None]
        if values:
            out[key] = round(statistics.median(values), 2)
    out["errors"] = sum(r.get("errors", 0) for r in good)
    out["requests"] = sum(r.get("requests", 0) for r in good)
    out["rounds"] = [{k: r.get(k) for k in ("rps", "p50_ms", "p99_ms", "errors", "other_cpu_share")} for r in runs]
    out["failed_rounds"] = len(runs) - len(good)
    return out


def ratios_and_targets(results: dict[str, Any]) -> tuple[dict[str, float] | None, list[dict[str, Any]]]:
    tl, bl = results.get("tunelab") or {}, results.get("baseline") or {}
    measured = all("error" not in r and r.get("requests") for r in (tl, bl))
    ratios = None
    if measured:
        ratios = {"throughput": round(tl["rps"] / max(bl["rps"], 1e-9), 3),
                  "p50_baseline_over_tunelab": round(bl["p50_ms"] / max(tl["p50_ms"], 1e-9), 3),
                  "p99_baseline_over_tunelab": round(bl["p99_ms"] / max(tl["p99_ms"], 1e-9), 3),
                  "server_peak_rss": (round(tl["server_peak_rss_mb"] / bl["server_peak_rss_mb"], 3)
                                      if tl.get("server_peak_rss_mb") and bl.get("server_peak_rss_mb") else None)}
    targets = []
    for name, key, threshold in (
            (f"TuneLab throughput >= {TARGETS['throughput_ratio']:g}x baseline", "throughput",
             TARGETS["throughput_ratio"]),
            (f"TuneLab p99 <= baseline p99 / {TARGETS['p99_ratio']:g}", "p99_baseline_over_tunelab",
             TARGETS["p99_ratio"])):
        if ratios is None:
            targets.append({"target": name, "status": "not measured"})
        else:
            targets.append({"target": name, "value": ratios[key], "threshold": threshold,
                            "met": ratios[key] >= threshold})
    name = "TuneLab errors == 0"
    if "error" in tl or not tl:
        targets.append({"target": name, "status": "not measured"})
    else:
        targets.append({"target": name, "value": tl["errors"], "threshold": 0, "met": tl["errors"] == 0})
    return ratios, targets


def target_line(target: dict[str, Any], markdown: bool = False) -> str:
    if "met" not in target:
        return f"NOT MEASURED  {target['target']}"
    value = f"{target['value']:.2f}x" if isinstance(target["value"], float) else str(target["value"])
    word = "PASS" if target["met"] else "MISS"
    return f"- {target['target']}: **{word}** ({value})" if markdown else f"{word:<12}  {target['target']} ({value})"


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = [["server", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean ms", "errors", "loadgen CPU %",
             "server CPU %", "server peak RSS MB", "others"]]
    for side, r in report["results"].items():
        if "error" in r:
            rows.append([TITLE[side], "failed: " + r["error"].splitlines()[0][:160]] + [""] * 9)
            continue
        rows.append([TITLE[side], fmt_num(r["rps"]), fmt_num(r["p50_ms"]), fmt_num(r["p95_ms"]),
                     fmt_num(r["p99_ms"]), fmt_num(r["mean_ms"]), str(r["errors"]), fmt_num(r["loadgen_cpu_percent"]),
                     fmt_num(r["server_cpu_percent"], 0), fmt_num(r["server_peak_rss_mb"], 0),
                     f"{100 * r['other_cpu_share']:.0f}%"])
    return rows


def print_report(report: dict[str, Any]) -> None:
    rows = table_rows(report)
    widths = [max(len(row[i]) for row in rows if len(row) > i and not row[1].startswith("failed"))
              for i in range(len(rows[0]))]
    for row in rows:
        if row[1].startswith("failed"):
            print(f"{row[0]:<{widths[0]}}  {row[1]}")
        else:
            print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    ratios = report["ratios"]
    if ratios:
        print(f"\nthroughput TuneLab/baseline {ratios['throughput']:.2f}x; p50 baseline/TuneLab "
              f"{ratios['p50_baseline_over_tunelab']:.2f}x; "
              f"p99 baseline/TuneLab {ratios['p99_baseline_over_tunelab']:.2f}x")
    print()
    for target in report["targets"]:
        print(target_line(target))


def render_section(report: dict[str, Any]) -> str:
    machine, s = report["machine"], report["settings"]
    v = machine["versions"]
    ran_as = f"`{report['make_target']}` (ran as `{report['command']}`)" if report["make_target"] \
        else f"`{report['command']}`"
    lines = ["## Serving benchmark", "",
             f"Command: {ran_as}, {report['date']}.",
             f"Machine: {machine['cpu_model']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB RAM; torch "
             f"{v['torch']}, transformers {v['transformers']}, tunelab {v['tunelab']}, fastapi {v['fastapi']}, "
             f"uvicorn {v['uvicorn']}.",
             f"Load: {s['concurrency']} closed-loop keep-alive clients on 127.0.0.1 for {s['duration_s']:g} s per "
             f"server after a {s['warmup_s']:g} s warm-up, one text per request ({report['texts']['note']}); the "
             f"servers ran one after the other, alternating for {s.get('rounds', 1)} round(s); the table shows "
             f"medians over the rounds. Model: `{report['model']}`.", ""]
    for side, r in report["results"].items():
        if r.get("command"):
            lines[-1:-1] = [f"{TITLE[side]} server: `{r['command']}`."]
    tl = report["results"].get("tunelab") or {}
    if tl.get("export"):
        def verdict(name: str, card: dict[str, Any]) -> str:
            return "" if name == "torch" else (" kept" if card["passed"] else " REFUSED")

        cards = "; ".join(f"{name} {c['metric']:.4f}{verdict(name, c)}, {c['throughput_b32_per_s']} seq/s at batch 32"
                          for name, c in tl["export"].items())
        lines[-1:-1] = [f"TuneLab ran `tunelab export` first (accuracy gate, metric on the gate set): {cards}. "
                        f"The server loaded {', '.join(tl.get('models_loaded') or ['?'])}."]
    if report.get("quick"):
        lines += ["Quick mode (short run): indicative only.", ""]
    rows = table_rows(report)
    lines += ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    shares = [r.get("other_cpu_share") for r in report["results"].values() if r.get("other_cpu_share") is not None]
    if shares and max(shares) > 0.1:
        lines += ["", f"Caution: other processes used up to {max(shares):.0%} of the CPUs during a measurement "
                      "(column 'others'), so these numbers are not reliable."]
    per_round = {side: r.get("rounds") for side, r in report["results"].items() if r.get("rounds")}
    if per_round:
        lines += ["", "Per round (req/s, p99 ms): " + "; ".join(
            f"{TITLE[side]} " + ", ".join(f"{x['rps']} / {x['p99_ms']}" for x in runs if x.get("rps"))
            for side, runs in per_round.items())]
    ratios = report["ratios"]
    lines += ["", "Ratios (of the medians):"]
    if ratios:
        lines += [f"- throughput TuneLab/baseline **{ratios['throughput']:.2f}x**",
                  f"- median (p50) latency baseline/TuneLab {ratios['p50_baseline_over_tunelab']:.2f}x "
                  f"({fmt_num(report['results']['baseline']['p50_ms'])} ms vs "
                  f"{fmt_num(report['results']['tunelab']['p50_ms'])} ms)",
                  f"- p99 latency baseline/TuneLab **{ratios['p99_baseline_over_tunelab']:.2f}x**"]
    else:
        lines.append("- not measured (a side failed; see the table)")
    lines += ["", "Targets:", *[target_line(t, markdown=True) for t in report["targets"]], "",
              "req/s = 2xx responses completed in the measured window / its length; latency = request written to "
              "last body byte read, per request, by the load generator (benchmarks/loadgen.py: asyncio + uvloop, "
              "prebuilt requests). 'loadgen CPU %' = the generator's own CPU time / wall time (100 = one core): it "
              "shares the cores with the server. 'server CPU %' = the server's processes' CPU time / wall time. "
              "Peak RSS = VmHWM summed over the server's processes. 'others' = share of the machine's CPU time "
              "used by other processes during the measurement (0% = clean). Baseline: "
              "benchmarks/serve_baseline.py (one uvicorn worker, a sync endpoint calling "
              "`transformers.pipeline(\"text-classification\", top_k=None)` once per request)."]
    return "\n".join(lines)


def update_results_md(path: Path, section: str) -> None:
    """Replace the text between the bench-serve markers (or append it); other sections stay as they are."""
    block = f"{MD_START}\n{section}\n{MD_END}"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# TuneLab benchmark results\n"
    pattern = re.compile(re.escape(MD_START) + ".*?" + re.escape(MD_END), re.S)
    updated, found = pattern.subn(lambda _: block, text, count=1)
    write_text_atomic(path, updated if found else text.rstrip("\n") + "\n\n" + block + "\n")


def server_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("fastapi", "uvicorn", "uvloop", "httptools", "psutil"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help=f"run folder to serve (default {DEFAULT_RUN.relative_to(ROOT)}, "
                                                 "trained first when missing)")
    parser.add_argument("--duration", type=float, help="measured seconds per server (default 30; --quick: 10)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="per-request timeout of the clients")
    parser.add_argument("--texts", type=Path, help="request texts, one per line (default: Banking77 test)")
    parser.add_argument("--max-texts", type=int, default=1000)
    parser.add_argument("--only", choices=SIDES, help="measure one side only (no ratios)")
    parser.add_argument("--serve-args", default="",
                        help='extra options for `tunelab serve`, e.g. --serve-args="--max-batch-size 32" (with =)')
    parser.add_argument("--rounds", type=int, help="alternating rounds per side; medians are reported "
                        "(default 3; --quick: 1)")
    parser.add_argument("--export", action=argparse.BooleanOptionalAction, default=True,
                        help="run `tunelab export` first so the server can use a gated ONNX artifact (default on)")
    parser.add_argument("--keep-rate-limit", action="store_true",
                        help="keep `tunelab serve`'s default per-key rate limit (by default the benchmark passes "
                             "--rate-per-s 0 when the server has that option)")
    parser.add_argument("--quick", action="store_true", help="10 s smoke run; not recorded unless --record")
    parser.add_argument("--record", action=argparse.BooleanOptionalAction, default=None,
                        help="write serve.json and the RESULTS.md section (default: yes, except with --quick)")
    parser.add_argument("--out", type=Path, help="result JSON (default: benchmarks/results/serve.json when "
                                                 "recording, else benchmarks/work/serve/serve-quick.json)")
    parser.add_argument("--results-md", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--work", type=Path, default=BENCH / "work" / "serve", help="scratch folder (git-ignored)")
    parser.add_argument("--max-others", type=float, default=0.1,
                        help="a load run during which other processes used more than this share of the CPUs is "
                             "measured again (see --retries)")
    parser.add_argument("--retries", type=int, default=1, help="extra load runs for a disturbed measurement")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds for a server to become ready")
    parser.add_argument("--wait-idle", type=float, default=300.0,
                        help="before each server wait up to this many seconds for other processes to leave the "
                             "CPUs idle (0: do not wait)")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 10.0 if args.quick else 30.0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    record = (not args.quick) if args.record is None else args.record
    out = args.out or (BENCH / "results" / "serve.json" if record else args.work / "serve-quick.json")
    args.work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    run = ensure_model(args.run)
    texts, note = load_texts(args.max_texts, args.texts)
    texts_file = args.work / "texts.txt"
    write_text_atomic(texts_file, "\n".join(texts) + "\n")
    log(f"model {run}; {len(texts)} texts ({note})")

    rounds: dict[str, list[dict[str, Any]]] = {}
    for number in range(args.rounds):  # the sides alternate, so slow drift in the machine hits both alike
        for side in ([args.only] if args.only else SIDES):
            log(f"round {number + 1} of {args.rounds}: {side}")
            runner = baseline_side if side == "baseline" else tunelab_side
            rounds.setdefault(side, []).append(runner(run, args, texts_file, args.work))
    results = {side: median_round(runs) for side, runs in rounds.items()}

    argv_used = sys.argv[1:] if argv is None else argv
    make_target = {(): "make bench-serve", ("--quick",): "make bench-serve-quick"}.get(tuple(argv_used))
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    ratios, targets = ratios_and_targets(results)
    machine = machine_info()
    machine["versions"].update(server_versions())
    report = {
        "benchmark": "serve", "quick": args.quick,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([python, os.path.relpath(Path(__file__).resolve(), ROOT), *argv_used]),
        "make_target": make_target,
        "machine": machine,
        "model": os.path.relpath(run, ROOT) if str(run).startswith(str(ROOT)) else str(run),
        "texts": {"count": len(texts), "note": note,
                  "mean_chars": round(sum(map(len, texts)) / max(len(texts), 1), 1)},
        "settings": {"concurrency": args.concurrency, "duration_s": args.duration, "warmup_s": args.warmup,
                     "request_timeout_s": args.request_timeout, "wait_idle_s": args.wait_idle,
                     "max_others": args.max_others, "retries": args.retries,
                     "serve_args": args.serve_args, "keep_rate_limit": args.keep_rate_limit,
                     "only": args.only, "rounds": args.rounds},
        "results": results, "ratios": ratios, "targets": targets,
        "total_wall_seconds": round(time.perf_counter() - started, 1),
    }
    print_report(report)
    write_json_atomic(out, report)
    if record:
        update_results_md(args.results_md, render_section(report))
        log(f"wrote {out} and the Serving section of {args.results_md}")
    else:
        log(f"wrote {out} (not recorded: quick mode; add --record to update results/serve.json and RESULTS.md)")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
