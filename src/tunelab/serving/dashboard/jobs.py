"""Training started from the dashboard: one run at a time on a background thread, its progress kept in memory.

The run itself is a normal `run_train` writing a normal run folder; `on_event` hands each history entry
(step loss, dev score) to the job, and the run page streams them with server-sent events. A second start
while one trains is refused (409). A server stopped mid-run leaves an unfinished run folder that
`tunelab train --resume` continues.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.errors import ConflictError, TunelabError

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
    """Starts runs on a worker thread, one at a time; remembers every job of this server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._thread: threading.Thread | None = None

    def busy(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if not j.done), None)

    def get(self, run_name: str) -> Job | None:
        with self._lock:
            return self._jobs.get(run_name)

    def start(self, config: Any, run_name: str) -> Job:
        """Start `run_train(config)` in the background; ConflictError while another run trains."""
        with self._lock:
            running = next((j for j in self._jobs.values() if not j.done), None)
            if running is not None:
                raise ConflictError(f"run {running.run_name!r} is still training; one run at a time",
                                    hint=f"watch it at /runs/{running.run_name} and start this one when it ends")
            job = Job(run_name, Path(config.output))
            self._jobs[run_name] = job
            self._thread = threading.Thread(target=self._run, args=(job, config), name=f"train-{run_name}",
                                            daemon=True)
            self._thread.start()
        return job

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current run ends (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, job: Job, config: Any) -> None:
        from tunelab.recipes.train import run_train

        try:
            run_train(config, show_progress=False, on_event=job.events.append)
            job.status = "done"
        except TunelabError as exc:
            job.error, job.status = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 - a background thread must report, not vanish
            log.exception("dashboard training run %s failed", job.run_name)
            job.error, job.status = f"internal error ({type(exc).__name__}); the server log has the details", "failed"
        finally:
            job.finished = time.time()
