"""Training progress: a live bar on a terminal, plain periodic lines in logs and CI."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def format_seconds(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def pass_bar(desc: str, unit: str, *, show: bool, total: int | None = None) -> Any:
    """A tqdm bar for one pass over data (scoring a file, a teacher's labelling pass): live on a terminal or in a
    notebook, a line every 15 s in a log (as `Progress` writes training's)."""
    from tqdm.auto import tqdm

    live = sys.stderr.isatty() or "notebook" in tqdm.__module__
    return tqdm(total=total, unit=unit, desc=desc, disable=not show, dynamic_ncols=True, smoothing=0.1,
                unit_scale=True, mininterval=0.1 if live else 15.0)


class Progress:
    """Reports step, loss, learning rate, speed and ETA; `enabled=False` silences it."""

    def __init__(self, total_steps: int, start_step: int = 0, *, stream: TextIO | None = None,
                 enabled: bool = True, interval_s: float = 15.0) -> None:
        self.total = total_steps
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interval_s = interval_s
        self.start_step = start_step
        self.started = time.perf_counter()
        self.last_line = 0.0
        self.samples = 0
        self.bar: Any = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_steps, initial=start_step, file=self.stream, unit="step",
                            dynamic_ncols=True, leave=True)

    def update(self, step: int, epoch: int, epochs: int, loss: float, lr: float, samples: int) -> None:
        if not self.enabled:
            return
        self.samples += samples
        elapsed = time.perf_counter() - self.started
        speed = self.samples / elapsed if elapsed > 0 else 0.0
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{loss:.4f}", lr=f"{lr:.2e}",
                                 sps=f"{speed:.1f}", refresh=False)
            return
        now = time.perf_counter()
        if now - self.last_line >= self.interval_s or step == self.total or step == self.start_step + 1:
            self.last_line = now
            done = step - self.start_step
            eta = (self.total - step) * elapsed / done if done else 0.0
            pct = 100 * step / max(1, self.total)
            self.stream.write(f"step {step}/{self.total} ({pct:.0f}%) epoch {epoch + 1}/{epochs} "
                              f"loss {loss:.4f} lr {lr:.2e} {speed:.1f} samples/s eta {format_seconds(eta)}\n")
            self.stream.flush()

    def note(self, message: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            self.stream.write(message + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
