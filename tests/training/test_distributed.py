"""Data-parallel training (`tunelab train --nproc 2`, gloo on CPU): the global batch is split between the ranks,
two processes train like one on the same global batch (within a stated tolerance), rank 0 alone writes the run
folder, and a killed two-process run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.training.test_resume import wait_for_checkpoint

import tunelab
from tunelab.cli.commands import without_option
from tunelab.training.distributed import World, shard

# no dropout, so the only differences between one and two processes are the shards' loss means and float sums
ARGS = dict(few_shot="never", epochs=12, batch_size=4, lr=2e-3, warmup_ratio=0.1, patience=0, precision="fp32", seed=3,
            checkpoint_every=5)


def test_shards_split_a_length_sorted_batch_evenly() -> None:
    batch = [9, 4, 7, 1, 3, 8, 2]  # plan_batches sorts a batch longest first: striding balances the tokens
    parts = [shard(batch, World(rank, 2)) for rank in range(2)]
    assert parts == [[9, 7, 3, 2], [4, 1, 8]] and sorted(sum(parts, [])) == sorted(batch)
    assert shard([5], World(1, 2)) == [5]  # a rank never sits out a step (DDP needs every rank)
    assert shard(batch, World()) == batch


def test_launcher_option_is_not_passed_on() -> None:
    assert without_option(["train", "--nproc", "2", "--data", "x"], "--nproc") == ["train", "--data", "x"]
    assert without_option(["train", "--nproc=2", "-q"], "--nproc") == ["train", "-q"]


def train_cli(data: Path, model: Path, out: Path, nproc: int, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "tunelab", "train", "--data", str(data), "--model", str(model), "--output",
            str(out), "--quiet", "--json", "--nproc", str(nproc), "--set", "model.dropout=0", *extra]
    for key, value in ARGS.items():
        args += ["--set", f"train.{key}={value}"]
    return args


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(tunelab.__file__).parents[1]), "OMP_NUM_THREADS": "1"}


def losses(run: Path) -> list[float]:
    return [h["loss"] for h in json.loads((run / "history.json").read_text()) if "loss" in h]


def test_two_processes_train_like_one(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    one = subprocess.run(train_cli(intent_csv, tiny_model, tmp_path / "one", 1), capture_output=True, text=True,
                         env=env(), timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(train_cli(intent_csv, tiny_model, tmp_path / "two", 2), capture_output=True, text=True,
                         env=env(), timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count('"metrics"') == 1  # rank 0 alone prints its summary
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(a) == len(b)  # the same global batches, so the same number of steps
    # Tolerance: a global batch of an odd size splits unevenly (2 + 1), where the mean of the shards' means is
    # not the batch mean; every other step is the same computation summed in another order.
    assert sum(abs(x - y) for x, y in zip(a, b)) / len(a) < 0.05
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())["test"]
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())["test"]
    assert abs(m1["accuracy"] - m2["accuracy"]) <= 0.2
    assert (tmp_path / "two" / "manifest.json").is_file() and not (tmp_path / "two" / "checkpoints").exists()


def descendants(pid: int) -> list[int]:
    """Processes under `pid` (from /proc), nearest first."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def rank_processes(launcher: subprocess.Popen) -> list[int]:
    return [p for p in descendants(launcher.pid)
            if b"tunelab" in Path(f"/proc/{p}/cmdline").read_bytes() and b"torch.distributed.run" not in
            Path(f"/proc/{p}/cmdline").read_bytes()]


def test_a_run_whose_rank_is_killed_resumes(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen(train_cli(intent_csv, tiny_model, out, 2), env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_checkpoint(out, proc, timeout=240)
        ranks = rank_processes(proc)
        assert ranks, "no rank processes found"
        os.kill(ranks[-1], signal.SIGKILL)  # one rank dies (the OOM killer, a lost node): torchrun stops the rest
        assert proc.wait(timeout=120) != 0
    finally:
        for pid in [proc.pid, *descendants(proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    if (out / "manifest.json").exists():
        pytest.fail("the run finished before the kill")
    done = subprocess.run([sys.executable, "-m", "tunelab", "train", "--resume", str(out), "--quiet", "--json",
                           "--nproc", "2"], capture_output=True, text=True, env=env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["metrics"]["test"], done.stderr[-3000:]
    steps = [h["step"] for h in json.loads((out / "history.json").read_text()) if "loss" in h]
    assert steps == list(range(1, len(steps) + 1))  # each step once: resumed where the checkpoint left off
