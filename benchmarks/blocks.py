"""Forward and training-step time of each backbone with each attention block, against `none`.

    python benchmarks/blocks.py [--backbone cnn resnet] [--length 1024] [--batch 64] [--device cpu]
        [--rounds 5] [--threads N] [--compile]

Prints a table and writes benchmarks/results/blocks-<device>.json (blocks-<device>-compiled.json
with `--compile`, every model under `torch.compile`, as `train.compile` runs the training step).
Targets at the default size on CPU: ECA and SE add at most 10 % to the step time, GC and CBAM
25 %, CA 40 %.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from sigattn.models.costs import backbone_costs

TARGETS = {"eca": 10.0, "se": 10.0, "gc": 25.0, "cbam": 25.0, "ca": 40.0}


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one, else what platform reports."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_report(folder: Path, name: str, report: dict) -> None:
    """Write `report` as JSON to folder/name, creating the folder, and say where."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", nargs="+", default=["cnn", "resnet", "wdcnn"])
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--min-run-time", type=float, default=1.0, help="seconds of timing per block and pass, over all rounds"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of timing each block next to none")
    parser.add_argument("--compile", action="store_true", help="time every model under torch.compile")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (default: all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for backbone in args.backbone:
        length = max(args.length, 2048) if backbone == "wdcnn" else args.length
        rows += backbone_costs(
            backbone,
            length,
            args.batch,
            device=args.device,
            min_run_time=args.min_run_time,
            rounds=args.rounds,
            compiled=args.compile,
        )

    header = (
        f"{'backbone':<8} {'block':<5} {'params':>8} {'fwd ms':>8} {'step ms':>8} {'fwd +%':>7} {'step +%':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        target = TARGETS.get(r.block)
        verdict = "" if target is None else f"<={target:.0f}% {'ok' if r.step_overhead_pct <= target else 'MISSED'}"
        print(
            f"{r.backbone:<8} {r.block:<5} {r.params:>8,} {r.forward_ms:>8.2f} {r.step_ms:>8.2f} "
            f"{r.forward_overhead_pct:>+7.1f} {r.step_overhead_pct:>+8.1f}  {verdict}"
        )
    meta = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "length": args.length,
        "wdcnn_length": max(args.length, 2048),
        "batch": args.batch,
        "rounds": args.rounds,
        "compiled": args.compile,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"blocks-{args.device.split(':')[0]}{'-compiled' if args.compile else ''}.json"
    path.write_text(json.dumps({"meta": meta, "rows": [r.to_dict() for r in rows]}, indent=2) + "\n")
    print(f"\nwrote {path}  ({meta['threads']} threads, torch {meta['torch']})")


if __name__ == "__main__":
    main()
