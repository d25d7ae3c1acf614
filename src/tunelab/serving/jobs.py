"""Training started from the dashboard: one run at a time, in a subprocess, its progress kept in memory.

The run itself is a normal `run_train` writing a normal run folder, in its own process (`trainer.py`) with its
own threads, so the serving process's thread count and latency are untouched. Each history entry (step loss,
dev score) comes back as a JSON line, and the run page streams them with server-sent events. A second start
while one trains is refused (409). A server stopped mid-run stops the run and leaves an unfinished run
folder that `tunelab train --resume` continues.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.config import RunConfig, save_config
from tunelab.errors import ConflictError

log = logging.getLogger("tunelab.dashboard")


@dataclass
class Job:
    """One training run started from the dashboard."""

    run_name: str
    run_dir: Path
    status: str = "running"  # running, done, failed
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.status != "running"

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "events": len(self.events),
                "seconds": round((self.finished or time.time()) - self.started, 1)}


class TrainingJobs:
    """Starts runs in a subprocess, one at a time; remembers every job of this server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[str] | None = None

    def busy(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if not j.done), None)

    def get(self, run_name: str) -> Job | None:
        with self._lock:
            return self._jobs.get(run_name)

    def start(self, config: RunConfig, run_name: str) -> Job:
        """Start `run_train(config)` in a subprocess; ConflictError while another run trains."""
        with self._lock:
            running = next((j for j in self._jobs.values() if not j.done), None)
            if running is not None:
                raise ConflictError(f"run {running.run_name!r} is still training; one run at a time",
                                    hint=f"watch it at /runs/{running.run_name} and start this one when it ends")
            job = Job(run_name, Path(str(config.output)))
            self._jobs[run_name] = job
            self._process = _spawn(config)
            self._thread = threading.Thread(target=self._follow, args=(job, self._process),
                                            name=f"train-{run_name}", daemon=True)
            self._thread.start()
        return job

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current run ends (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def stop(self) -> None:
        """Stop a run still training (the server is shutting down); it can be resumed later."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def _follow(self, job: Job, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a library's stray print
            if isinstance(entry, dict) and "error" in entry and len(entry) == 1:
                job.error = str(entry["error"])
            elif isinstance(entry, dict):
                job.events.append(entry)
        code = process.wait()
        if code == 0:
            job.status = "done"
        else:
            if not job.error:
                log.error("dashboard training run %s exited with status %s", job.run_name, code)
                job.error = f"the training process failed (exit status {code}); the server log has the details"
            job.status = "failed"
        job.finished = time.time()


def _spawn(config: RunConfig) -> subprocess.Popen[str]:
    folder = Path(tempfile.mkdtemp(prefix="tunelab-job-"))
    path = folder / "config.yaml"
    save_config(config, path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "tunelab.serving.trainer", str(path)],
                            stdout=subprocess.PIPE, stderr=None, text=True, encoding="utf-8", env=env)
