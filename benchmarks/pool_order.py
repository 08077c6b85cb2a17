"""What applying a block's per-channel steps after the max pooling saves, against applying them before.

    python benchmarks/pool_order.py [--rounds 30] [--threads 1]

The `cnn` backbone's stages pool first and then apply the per-channel end of SE, ECA, GC and CA
(`sigattn/blocks/ops.py`, `PerChannel`); outputs are identical either way. For each of these blocks
this times one model as built against a copy whose stages run the whole block and then pool, in
alternating order, round after round: a training step (SGD, batch 64, 1x1024) and inference (batch
512, 1x2048). Prints the median per-round time ratio (pool first / pool last) and writes
benchmarks/results/pool_order-cpu.json.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sigattn.models import create_model

sys.path.insert(0, str(Path(__file__).parent))
from blocks import cpu_name, write_report  # noqa: E402

BLOCKS = ["se", "eca", "gc", "ca"]


class PoolLast(nn.Module):
    """A `ConvStage` run in the written order: the whole block, then the pooling."""

    def __init__(self, stage: nn.Module) -> None:
        super().__init__()
        self.stage = stage

    def forward(self, x: Tensor) -> Tensor:
        s = self.stage
        return s.pool(s.attn(s.act(s.bn(s.conv(x)))))


def pool_last(model: nn.Module) -> nn.Module:
    reference = copy.deepcopy(model)
    reference.stages = nn.Sequential(*(PoolLast(stage) for stage in reference.stages))
    return reference


def training_steps(models: dict[str, nn.Module], x: Tensor, y: Tensor) -> Callable[[str], None]:
    """`step(name)`: one SGD training step of the named model on (x, y)."""
    optimizers = {name: torch.optim.SGD(m.parameters(), lr=1e-3) for name, m in models.items()}

    def step(name: str) -> None:
        model, optimizer = models[name].train(), optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def seconds(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def compare(block: str, rounds: int) -> dict[str, float]:
    torch.manual_seed(0)
    models = {"pool first": create_model("cnn", 1, 10, block=block)}
    models["pool last"] = pool_last(models["pool first"])
    x, y, windows = torch.randn(64, 1, 1024), torch.randint(0, 10, (64,)), torch.randn(512, 1, 2048)
    step = training_steps(models, x, y)

    def predict(name: str) -> None:
        with torch.inference_mode():
            models[name].eval()(windows)

    times: dict[str, dict[str, list[float]]] = {kind: {name: [] for name in models} for kind in ("step", "predict")}
    for name in models:  # warm-up
        step(name), predict(name)
    for r in range(rounds):
        for name in list(models)[:: 1 if r % 2 else -1]:
            times["step"][name].append(seconds(lambda n=name: step(n), 3))
            times["predict"][name].append(seconds(lambda n=name: predict(n), 1))
    row = {}
    for kind, by_name in times.items():
        row[f"{kind}_ms_pool_last"] = statistics.median(by_name["pool last"]) * 1e3
        ratios = [a / b for a, b in zip(by_name["pool first"], by_name["pool last"], strict=True)]
        row[f"{kind}_ratio"] = statistics.median(ratios)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = {}
    header = ("block", "step ms (pool last)", "step first/last", "predict ms", "predict first/last")
    print(f"{header[0]:<6} {header[1]:>20} {header[2]:>16} {header[3]:>11} {header[4]:>19}")
    for block in BLOCKS:
        row = rows[block] = compare(block, args.rounds)
        print(
            f"{block:<6} {row['step_ms_pool_last']:>20.1f} {row['step_ratio']:>16.3f}"
            f" {row['predict_ms_pool_last']:>11.1f} {row['predict_ratio']:>19.3f}",
            flush=True,
        )
    meta = {"cpu": cpu_name(), "threads": args.threads, "rounds": args.rounds, "torch": torch.__version__}
    write_report(args.out, "pool_order-cpu.json", {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
