"""Data-parallel training with PyTorch DistributedDataParallel: gloo on CPU, NCCL on GPU.

`tunelab train --nproc N` starts N copies of itself through torchrun (`torch.distributed.run`); several machines
use torchrun directly (`torchrun --nnodes 2 ... -m tunelab train ...`). Every rank plans the same length-grouped
global batches and takes every N-th example of each (the batch is sorted by length, so the shards carry about the
same number of tokens); DDP averages the gradients, so one step equals a one-process step on the whole global
batch. Every rank evaluates dev (same weights, same decision to stop early); rank 0 alone writes checkpoints and
the run folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.errors import UsageError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def current_world() -> World:
    """The world torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK (one process when they are unset)."""
    try:
        return World(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                     int(os.environ.get("LOCAL_RANK", "0")))
    except ValueError:
        raise UsageError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None


def init_world(device: str) -> World:
    """Join the process group when torchrun started several processes; the backend follows the device."""
    world = current_world()
    if not world.distributed:
        return world
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return world


def close_world(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def threads_per_rank(world: World) -> int:
    """This machine's cores split between the ranks on it."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world.size)) or 1)
    return max(1, len(os.sched_getaffinity(0)) // max(1, local))


def shard(batch_ids: Sequence[int], world: World) -> list[int]:
    """This rank's part of a global batch: every size-th example from its rank on (a rank left without one, in a
    batch smaller than the world, repeats one so that every rank takes part in the step)."""
    mine = list(batch_ids[world.rank::world.size])
    return mine or [batch_ids[world.rank % len(batch_ids)]]


def wrap(model: Any, world: World) -> Any:
    """The model to run forward passes through: DDP around it when distributed, else the model itself."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def mean_over_ranks(value: float, world: World) -> float:
    if not world.distributed:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item()) / world.size


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run `tunelab ARGV` in `nproc` local processes under torchrun; returns its exit code."""
    import subprocess

    if nproc < 1:
        raise UsageError("--nproc must be at least 1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "tunelab", *argv]
    return subprocess.call(command)
