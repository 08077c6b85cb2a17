"""What each attention block costs: parameters, FLOPs and time, measured, not estimated."""

from __future__ import annotations

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


def median_seconds(fn, min_run_time: float = 0.2) -> float:
    """Median wall time of `fn()` from torch.utils.benchmark's adaptive loop."""
    return Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


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


def backbone_costs(
    backbone: str = "cnn",
    length: int = 1024,
    batch: int = 64,
    in_channels: int = 1,
    num_classes: int = 10,
    device: str = "cpu",
    min_run_time: float = 1.0,
    rounds: int = 5,
) -> list[StepCost]:
    """Forward and forward+backward+SGD-step time of a backbone with each block vs `none`.

    Models are timed in turn, `rounds` times over, and each keeps its fastest round: drift in
    the machine's load then hits every block alike instead of whichever was timed last.
    """
    x = torch.randn(batch, in_channels, length, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    names = ["none", *sorted(set(BLOCKS) - {"none"})]
    timers = {}
    for name in names:
        torch.manual_seed(0)
        model = create_model(backbone, in_channels, num_classes, block=name).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

        def forward(m=model) -> None:
            m.eval()
            with torch.inference_mode():
                m(x)
            sync()

        def step(m=model, opt=optimizer) -> None:
            m.train()
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
            sync()

        forward(), step()  # warm-up: first-call allocations and kernel selection
        timers[name] = (count_parameters(model), forward, step)
    best = {name: [float("inf"), float("inf")] for name in names}
    for _ in range(rounds):
        for name, (_, forward, step) in timers.items():
            best[name][0] = min(best[name][0], median_seconds(forward, min_run_time / rounds))
            best[name][1] = min(best[name][1], median_seconds(step, min_run_time / rounds))
    base_forward, base_step = best["none"]
    return [
        StepCost(
            backbone,
            name,
            timers[name][0],
            best[name][0] * 1e3,
            best[name][1] * 1e3,
            100 * (best[name][0] / base_forward - 1),
            100 * (best[name][1] / base_step - 1),
        )
        for name in names
    ]
