"""Kill -9 a training process mid-run, resume it, and end with exactly the metrics of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import tunelab

ARGS = dict(few_shot="never", epochs=30, batch_size=4, lr=2e-3, warmup_ratio=0.1, patience=0, precision="fp32", seed=7,
            checkpoint_every=5)


def cli_args(data: Path, model: Path, out: Path) -> list[str]:
    args = [sys.executable, "-m", "tunelab", "train", "--data", str(data), "--model", str(model),
            "--output", str(out), "--quiet"]
    for key, value in ARGS.items():
        args += ["--set", f"train.{key}={value}"]
    return args


def wait_for_checkpoint(out: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = sorted((out / "checkpoints").glob("step-*")) if (out / "checkpoints").is_dir() else []
        if steps and int(steps[-1].name.split("-")[1]) >= 10:
            return
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared in time")


def test_resume_after_kill_matches_uninterrupted(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    reference = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "ref"),
                              show_progress=False, **ARGS)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(tunelab.__file__).parents[1])}
    proc = subprocess.Popen(cli_args(intent_csv, tiny_model, out), env=env)
    try:
        wait_for_checkpoint(out, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "manifest.json").exists(), "the run finished before the kill"
    assert "incomplete" in subprocess.run([sys.executable, "-m", "tunelab", "runs", str(tmp_path)],
                                          capture_output=True, text=True, env=env).stdout
    done = subprocess.run([sys.executable, "-m", "tunelab", "train", "--resume", str(out), "--quiet", "--json"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    resumed = json.loads(done.stdout)
    assert resumed["metrics"] == reference.manifest.metrics
    ref_metrics = json.loads((reference.run_dir / "metrics.json").read_text())
    new_metrics = json.loads((out / "metrics.json").read_text())
    assert new_metrics["test"] == ref_metrics["test"]
    ref_loss = [h["loss"] for h in json.loads((reference.run_dir / "history.json").read_text()) if "loss" in h]
    new_loss = [h["loss"] for h in json.loads((out / "history.json").read_text()) if "loss" in h]
    assert new_loss == ref_loss
