"""The cost measurements: timed on the threads asked for, every block next to `none`."""

import torch

from sigattn.blocks import BLOCKS
from sigattn.models.costs import backbone_costs, median_seconds


def test_median_seconds_times_on_the_threads_asked_for():
    seen = []
    before = torch.get_num_threads()
    median_seconds(lambda: seen.append(torch.get_num_threads()), min_run_time=0.01, threads=2)
    assert set(seen) == {2}
    assert torch.get_num_threads() == before


def test_backbone_costs_times_every_block_on_torchs_threads(monkeypatch):
    threads = []
    monkeypatch.setattr("sigattn.models.costs.median_seconds", lambda fn, min_run_time, n: threads.append(n) or 1e-3)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = backbone_costs("wdcnn", 528, 2, min_run_time=0.01, rounds=2)
    finally:
        torch.set_num_threads(before)
    assert [r.block for r in rows] == ["none", *sorted(set(BLOCKS) - {"none"})]
    # rounds x blocks x (the block, `none` beside it) x (forward, step)
    assert set(threads) == {1} and len(threads) == 2 * (len(rows) - 1) * 2 * 2
    assert all(r.step_overhead_pct == 0.0 and r.step_ms == 1.0 for r in rows)
