"""What the backbones' index-free max pooling saves in a CPU training step, against nn.MaxPool1d.

    python benchmarks/pool_indices.py [--rounds 30] [--threads 2] [--block none] [--bf16]

Every backbone pools with `HalvingMaxPool` (`sigattn/models/pooling.py`): outputs and gradients
are identical to `nn.MaxPool1d(2, ceil_mode=True)`, whose training forward also computes the
pooling indices. For each backbone this times one model as built against a copy whose pools are
plain `nn.MaxPool1d`, in alternating order, round after round: a training step (SGD, batch 64,
1x1024; 1x2048 for `wdcnn`), under bf16 autocast with `--bf16` (where the index-free pooling
pools in fp32). Prints the median per-round time ratio (as built / plain) and writes
benchmarks/results/pool_indices-cpu.json (pool_indices-cpu-bf16.json with `--bf16`).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

from sigattn.models import create_model
from sigattn.models.pooling import HalvingMaxPool

sys.path.insert(0, str(Path(__file__).parent))
from blocks import cpu_name, write_report  # noqa: E402
from pool_order import seconds, training_steps  # noqa: E402

BACKBONES = ["cnn", "resnet", "wdcnn"]


def with_plain_pools(model: nn.Module) -> nn.Module:
    """A copy of `model` whose `HalvingMaxPool`s are `nn.MaxPool1d(2, ceil_mode=True)`."""
    plain = copy.deepcopy(model)
    for module in list(plain.modules()):
        for name, child in module.named_children():
            if isinstance(child, HalvingMaxPool):
                setattr(module, name, nn.MaxPool1d(2, ceil_mode=True))
    return plain


def compare(backbone: str, block: str, rounds: int, bf16: bool = False) -> dict[str, float]:
    torch.manual_seed(0)
    models = {"index-free": create_model(backbone, 1, 10, block=block)}
    models["plain"] = with_plain_pools(models["index-free"])
    x = torch.randn(64, 1, 2048 if backbone == "wdcnn" else 1024)
    plain_step = training_steps(models, x, torch.randint(0, 10, (64,)))

    def step(name: str) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            plain_step(name)

    times: dict[str, list[float]] = {name: [] for name in models}
    for name in models:  # warm-up
        step(name)
    for r in range(rounds):
        for name in list(models)[:: 1 if r % 2 else -1]:
            times[name].append(seconds(lambda n=name: step(n), 3))
    ratios = [a / b for a, b in zip(times["index-free"], times["plain"], strict=True)]
    return {
        "step_ms_index_free": statistics.median(times["index-free"]) * 1e3,
        "step_ms_plain": statistics.median(times["plain"]) * 1e3,
        "step_ratio": statistics.median(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (default: all)")
    parser.add_argument("--block", default="none")
    parser.add_argument("--bf16", action="store_true", help="train under bf16 autocast")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = {}
    print(f"{'backbone':<8} {'step ms (plain)':>16} {'step ms (index-free)':>21} {'ratio':>7}")
    for backbone in BACKBONES:
        row = rows[backbone] = compare(backbone, args.block, args.rounds, args.bf16)
        print(
            f"{backbone:<8} {row['step_ms_plain']:>16.1f} {row['step_ms_index_free']:>21.1f} {row['step_ratio']:>7.3f}",
            flush=True,
        )
    meta = {"cpu": cpu_name(), "threads": args.threads, "rounds": args.rounds, "block": args.block, "bf16": args.bf16}
    meta["torch"] = torch.__version__
    write_report(args.out, f"pool_indices-cpu{'-bf16' if args.bf16 else ''}.json", {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
