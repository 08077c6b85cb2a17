"""`sigattn run --jobs auto`: how many cells train at once, and how many threads each gets.

One worker per core, as many as the available memory holds at CELL_MEMORY_BYTES each, and never
more than there are cells; each worker gets `cores // jobs` intra-op threads, so the workers
together use every core once and never oversubscribe them. Small 1D CNNs scale better across
processes than across threads (docs/speed.md, "Grids").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sigattn.train.batching import available_memory_on_host

CELL_MEMORY_BYTES = 2 * 2**30  # one CNN cell at its largest measured (MIT-BIH DS1: 0.97 GB peak RSS), doubled


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class JobPlan:
    """`jobs` worker processes with `threads` intra-op threads each, and why."""

    jobs: int
    threads: int
    reason: str


def plan_jobs(
    requested: int | str,
    cells: int,
    *,
    threads: int | None = None,
    cores: int | None = None,
    free_bytes: int | None = None,
) -> JobPlan:
    """The plan for `--jobs requested` (a positive integer or "auto") over `cells` cells; `threads`
    per worker overrides the default cores // jobs."""
    cores = cores if cores is not None else usable_cores()
    if requested != "auto":
        jobs, why = int(requested), f"--jobs {requested}"
    else:
        free = free_bytes if free_bytes is not None else available_memory_on_host()
        jobs = max(1, min(cores, free // CELL_MEMORY_BYTES, cells))
        why = f"--jobs auto: {cores} cores, {free / 2**30:.1f} GiB available (2 GiB a cell), {cells} cells"
    return JobPlan(jobs, threads or max(1, cores // jobs), why)
