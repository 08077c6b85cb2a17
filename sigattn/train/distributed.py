"""Data-parallel training across processes: torchrun's environment, the process group, and the
two collectives `fit` needs.

`torchrun --nproc_per_node=K -m sigattn train ...` starts K processes with RANK, WORLD_SIZE and
LOCAL_RANK set; `process_group` joins them (gloo on CPU, NCCL on CUDA, one GPU per local rank)
and `fit` then wraps the model in DistributedDataParallel. Outside torchrun everything here is a
no-op for one process, so single-process code needs no branches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

TIMEOUT = timedelta(hours=1)  # long enough for rank 0's final evaluation and logging


@dataclass(frozen=True)
class Ranks:
    """This process's place in the group: `rank` of `world`, `local_rank` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that logs, evaluates and writes checkpoints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Whether torchrun (or another launcher) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def env_rank() -> int:
    """RANK as the launcher set it (0 without one), readable before the group exists."""
    return int(os.environ.get("RANK", "0"))


def current() -> Ranks:
    """The ranks of the initialised process group, else a single process."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def backend_for(device: str) -> str:
    """ "nccl" when training on CUDA (`train.device` auto or cuda[:N] with a GPU present), else "gloo"."""
    cuda = device not in ("cpu", "mps") and torch.cuda.is_available()
    return "nccl" if cuda and dist.is_nccl_available() else "gloo"


def _barrier() -> None:
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


@contextmanager
def process_group(device: str = "auto") -> Iterator[Ranks]:
    """Join the group the launcher describes for the block, then leave it; yields this process's Ranks.

    On CUDA each process takes GPU LOCAL_RANK. After a block that succeeds, every process waits
    for the others (rank 0 still tests and logs the run; collectives time out after `TIMEOUT`)
    before the group closes. Without a launcher, or with a group already set up by the caller,
    it only yields `current()`.
    """
    if not launched() or (dist.is_available() and dist.is_initialized()):
        yield current()
        return
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=TIMEOUT)
    try:
        yield current()
        _barrier()
    finally:
        dist.destroy_process_group()


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Each value summed over all processes (the values themselves for one process)."""
    if not current().active:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def from_main(values: list[float], device: torch.device) -> list[float]:
    """Rank 0's values, on every process (e.g. the monitored metric, for schedules and stopping)."""
    if not current().active:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return t.tolist()
