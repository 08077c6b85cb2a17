"""Prediction speed of each attention block on the default backbone: windows/s and one-window latency.

    python benchmarks/predict_speed.py [--backbone cnn] [--length 2048] [--classes 10] [--batch 512]
        [--runs 300] [--threads N]

For each block (none, se, cbam, eca, gc, ca) a freshly built model in eval mode is timed through
`sigattn.evaluate.predict.predict_proba` (inference mode, float32 in, probabilities out): windows/s at a
large batch with torch's threads (or --threads), and the median latency of one window at batch 1
on one thread (`torch.set_num_threads(1)`). Target: under 2 ms per window for the default
backbone (cnn) on one CPU core. Prints a table and writes benchmarks/results/predict_speed-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sigattn.blocks import BLOCKS
from sigattn.evaluate.predict import predict_proba
from sigattn.models.checkpoint import build_model

sys.path.insert(0, str(Path(__file__).parent))
from blocks import cpu_name  # noqa: E402

LATENCY_TARGET_MS = 2.0
ORDER = ["none", "se", "cbam", "eca", "gc", "ca"]


def throughput(model: torch.nn.Module, x: np.ndarray, batch: int, min_time: float) -> float:
    """Windows/s of `predict_proba` over `x` in batches of `batch`, repeated for at least `min_time` s."""
    predict_proba(model, x[:batch], batch_size=batch)  # warm-up (oneDNN primitives)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time:
        predict_proba(model, x, batch_size=batch)
        done += len(x)
    return done / (time.perf_counter() - start)


def latency_ms(model: torch.nn.Module, window: np.ndarray, runs: int) -> tuple[float, float]:
    """(median, 90th percentile) milliseconds of `predict_proba` on one window, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(20):
            predict_proba(model, window, batch_size=1)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            predict_proba(model, window, batch_size=1)
            times.append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times), float(np.percentile(times, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="cnn")
    parser.add_argument("--length", type=int, default=2048, help="window length (CWRU: 2048)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=512, help="batch size for windows/s")
    parser.add_argument("--windows", type=int, default=2048, help="windows per throughput pass")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds of timing per throughput figure")
    parser.add_argument("--runs", type=int, default=300, help="single-window runs per latency figure")
    parser.add_argument("--threads", type=int, default=None, help="threads for windows/s (default: torch's)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    x = np.random.default_rng(0).standard_normal((args.windows, args.channels, args.length), dtype=np.float32)
    rows = []
    for block in [b for b in ORDER if b in BLOCKS]:
        torch.manual_seed(0)
        model = build_model({"backbone": args.backbone, "block": block}, args.channels, args.classes).eval()
        rate = throughput(model, x, args.batch, args.min_time)
        median, p90 = latency_ms(model, x[:1], args.runs)
        rows.append(
            {
                "block": block,
                "params": sum(p.numel() for p in model.parameters()),
                "windows_per_s": rate,
                "latency_ms": median,
                "latency_p90_ms": p90,
                "ok": median < LATENCY_TARGET_MS,
            }
        )

    header = f"{'block':<6} {'params':>8} {'windows/s':>10} {'1-window ms':>12} {'p90 ms':>7}"
    header += f"  target <{LATENCY_TARGET_MS} ms"
    print(
        f"{args.backbone}, {args.channels}x{args.length} windows, {args.classes} classes; batch {args.batch} "
        f"on {torch.get_num_threads()} threads, latency on 1 thread"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['block']:<6} {r['params']:>8,} {r['windows_per_s']:>10.0f} {r['latency_ms']:>12.3f} "
            f"{r['latency_p90_ms']:>7.3f}  {'ok' if r['ok'] else 'MISSED'}"
        )
    meta = {
        "device": "cpu",
        "device_name": cpu_name(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "backbone": args.backbone,
        "input": [args.channels, args.length],
        "classes": args.classes,
        "batch": args.batch,
        "runs": args.runs,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "predict_speed-cpu.json"
    path.write_text(json.dumps({"meta": meta, "target_ms": LATENCY_TARGET_MS, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
