"""`--jobs auto`: one worker per core, as many as memory holds, no more than cells; cores // jobs threads each."""

from __future__ import annotations

import pytest

from sigattn.experiments.jobs import CELL_MEMORY_BYTES, plan_jobs

GIB = 2**30


@pytest.mark.parametrize(
    ("cells", "cores", "free", "jobs", "threads"),
    [
        (24, 2, 20 * GIB, 2, 1),  # this project's 2-core machine: two cells of one thread each
        (24, 16, 128 * GIB, 16, 1),
        (3, 16, 128 * GIB, 3, 5),  # fewer cells than cores: the spare cores become threads
        (24, 16, 5 * GIB, 2, 8),  # memory for two cells only
        (24, 4, GIB, 1, 4),  # not even one cell's worth of memory: still one
    ],
)
def test_auto_uses_every_core_once_within_memory(cells, cores, free, jobs, threads):
    plan = plan_jobs("auto", cells, cores=cores, free_bytes=free)
    assert (plan.jobs, plan.threads) == (jobs, threads)
    assert plan.jobs * plan.threads <= cores and plan.jobs * CELL_MEMORY_BYTES <= max(free, CELL_MEMORY_BYTES)
    assert plan.reason.startswith(f"--jobs auto: {cores} cores, {free / GIB:.1f} GiB available")


def test_a_number_of_jobs_shares_the_cores():
    assert plan_jobs(2, 24, cores=16) == plan_jobs(2, 5, cores=16)
    assert (plan_jobs(2, 24, cores=16).jobs, plan_jobs(2, 24, cores=16).threads) == (2, 8)
    assert plan_jobs(32, 24, cores=16).threads == 1
