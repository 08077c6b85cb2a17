"""What each attention block costs: parameters, FLOPs and time, measured, not estimated."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.benchmark import Timer
from torch.utils.flop_counter import FlopCounterMode

from sigattn.blocks import BLOCKS, create_block
from sigattn.models import create_model


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_flops(module: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass as torch.utils.flop_counter counts them (matmuls and convs)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(x)
    return counter.get_total_flops()


def median_seconds(fn, min_run_time: float = 0.2, threads: int = 1) -> float:
    """Median wall time of `fn()` from torch.utils.benchmark's adaptive loop, on `threads` threads
    (the Timer sets torch's thread count for the measurement; it defaults to one)."""
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


@dataclass(frozen=True)
class BlockCost:
    block: str
    params: int
    flops: int
    forward_us: float
    added_us: float

    def to_dict(self) -> dict:
        return asdict(self)


def block_costs(channels: int = 64, length: int = 1024, batch: int = 1, min_run_time: float = 0.2) -> list[BlockCost]:
    """Cost of each block alone on a (batch, channels, length) input, with `none` as zero."""
    x = torch.randn(batch, channels, length)
    timed = {}
    for name in ["none", *sorted(set(BLOCKS) - {"none"})]:
        block = create_block(name, channels).eval()
        with torch.inference_mode():
            timed[name] = (block, median_seconds(lambda b=block: b(x), min_run_time))
    baseline = timed["none"][1]
    return [
        BlockCost(
            name,
            count_parameters(block),
            count_flops(block, x),
            seconds * 1e6,
            max(seconds - baseline, 0.0) * 1e6,
        )
        for name, (block, seconds) in timed.items()
    ]


@dataclass(frozen=True)
class StepCost:
    backbone: str
    block: str
    params: int
    forward_ms: float
    step_ms: float
    forward_overhead_pct: float
    step_overhead_pct: float

    def to_dict(self) -> dict:
        return asdict(self)


def _model_timers(
    backbone: str, name: str, x: torch.Tensor, y: torch.Tensor, num_classes: int, device: str, compiled: bool
) -> tuple[int, Callable[[], None], Callable[[], None]]:
    """Parameters, and a forward pass and a training step (SGD) to time, of `backbone` with block `name`."""
    torch.manual_seed(0)
    model = create_model(backbone, x.shape[1], num_classes, block=name).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    run = torch.compile(model) if compiled else model
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def forward() -> None:
        model.eval()
        with torch.inference_mode():
            run(x)
        sync()

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(run(x), y).backward()
        optimizer.step()
        sync()

    for _ in range(2):  # warm-up: compilation, first-call allocations and kernel selection
        forward(), step()
    return count_parameters(model), forward, step


def backbone_costs(
    backbone: str = "cnn",
    length: int = 1024,
    batch: int = 64,
    in_channels: int = 1,
    num_classes: int = 10,
    device: str = "cpu",
    min_run_time: float = 1.0,
    rounds: int = 5,
    compiled: bool = False,
) -> list[StepCost]:
    """Forward and forward+backward+SGD-step time of a backbone with each block vs `none`.

    Each round times every block right next to `none` (which goes first in even rounds, second in
    odd ones), `min_run_time / rounds` seconds each; times are medians over all measurements and
    each overhead the median of the per-round ratios to `none`, so drift in the machine's load hits
    both sides of a ratio alike. `compiled` times each model under `torch.compile` (the
    compilation itself happens in the warm-up and is not timed). Timed on torch's current
    number of threads.
    """
    x = torch.randn(batch, in_channels, length, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    threads = torch.get_num_threads()
    names = ["none", *sorted(set(BLOCKS) - {"none"})]
    # Every model's training and inference graphs share one compile cache (the backbone's forward).
    cache = torch._dynamo.config.patch(recompile_limit=4 * len(names)) if compiled else nullcontext()
    with cache:
        timers = {name: _model_timers(backbone, name, x, y, num_classes, device, compiled) for name in names}
        times = {name: ([], []) for name in names}
        ratios = {name: ([], []) for name in names}
        for r in range(rounds):
            for name in names[1:]:
                pair = ("none", name) if r % 2 == 0 else (name, "none")
                for kind in (0, 1):
                    seconds = {n: median_seconds(timers[n][1 + kind], min_run_time / rounds, threads) for n in pair}
                    for n in pair:
                        times[n][kind].append(seconds[n])
                        ratios[n][kind].append(seconds[n] / seconds["none"])

    def overhead(name: str, kind: int) -> float:
        return 100 * (statistics.median(ratios[name][kind]) - 1)

    return [
        StepCost(
            backbone,
            name,
            timers[name][0],
            statistics.median(times[name][0]) * 1e3,
            statistics.median(times[name][1]) * 1e3,
            overhead(name, 0),
            overhead(name, 1),
        )
        for name in names
    ]
