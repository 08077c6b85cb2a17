"""Prediction speed of each attention block on the default backbone: windows/s and one-window latency.

    python benchmarks/predict_speed.py [--backbone cnn] [--length 2048] [--classes 10] [--batch 512]
        [--runs 300] [--rounds 8] [--threads N]

For each block (none, se, cbam, eca, gc, ca) a freshly built model in eval mode is timed through
`sigattn.evaluate.predict.predict_proba` (inference mode, float32 in, probabilities out): windows/s at a
large batch with torch's threads (or --threads), and the median latency of one window at batch 1
on one thread (`torch.set_num_threads(1)`). Both are measured in rounds, every block in turn in
each round and the order reversed every other round; windows/s is the median over the rounds, the
latency the median (and 90th percentile) of all the block's calls; "vs none" is the median of each
round's ratio to `none`, so drifts of a shared machine hit both sides of a ratio alike. Targets:
under 2 ms per window for the default backbone (cnn) on one CPU core, and at most 10 % (SE, ECA),
25 % (GC, CBAM) or 40 % (CA) fewer windows/s than `none`. Prints a table and writes
benchmarks/results/predict_speed-cpu.json.
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
SLOWDOWN_TARGET_PCT = {"se": 10.0, "eca": 10.0, "gc": 25.0, "cbam": 25.0, "ca": 40.0}  # fewer windows/s than none
ORDER = ["none", "se", "cbam", "eca", "gc", "ca"]


def throughputs(models: dict[str, torch.nn.Module], x: np.ndarray, batch: int, rounds: int) -> dict[str, list[float]]:
    """Windows/s of `predict_proba` over `x` in batches of `batch`, per model and round; each round
    runs every model once, the order reversed every other round."""
    for model in models.values():
        predict_proba(model, x[:batch], batch_size=batch)  # warm-up (oneDNN primitives)
    rates: dict[str, list[float]] = {name: [] for name in models}
    for r in range(rounds):
        for name in list(models)[:: -1 if r % 2 else 1]:
            start = time.perf_counter()
            predict_proba(models[name], x, batch_size=batch)
            rates[name].append(len(x) / (time.perf_counter() - start))
    return rates


def latencies_ms(
    models: dict[str, torch.nn.Module], window: np.ndarray, runs: int, rounds: int
) -> dict[str, list[float]]:
    """Milliseconds of `predict_proba` on one window, on one thread: `runs` calls per model, spread over
    `rounds` rounds that run every model in turn (the order reversed every other round), as for windows/s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {name: [] for name in models}
    try:
        for model in models.values():
            for _ in range(20):
                predict_proba(model, window, batch_size=1)
        for r in range(rounds):
            for name in list(models)[:: -1 if r % 2 else 1]:
                for _ in range(max(1, runs // rounds)):
                    start = time.perf_counter()
                    predict_proba(models[name], window, batch_size=1)
                    times[name].append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(threads)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="cnn")
    parser.add_argument("--length", type=int, default=2048, help="window length (CWRU: 2048)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=512, help="batch size for windows/s")
    parser.add_argument("--windows", type=int, default=2048, help="windows per throughput pass")
    parser.add_argument("--rounds", type=int, default=8, help="throughput rounds (every block once per round)")
    parser.add_argument("--runs", type=int, default=300, help="single-window runs per latency figure")
    parser.add_argument("--threads", type=int, default=None, help="threads for windows/s (default: torch's)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    x = np.random.default_rng(0).standard_normal((args.windows, args.channels, args.length), dtype=np.float32)
    models = {}
    for block in [b for b in ORDER if b in BLOCKS]:
        torch.manual_seed(0)
        models[block] = build_model({"backbone": args.backbone, "block": block}, args.channels, args.classes).eval()
    rates = throughputs(models, x, args.batch, args.rounds)
    times = latencies_ms(models, x[:1], args.runs, args.rounds)
    rows = []
    for block, model in models.items():
        median, p90 = statistics.median(times[block]), float(np.percentile(times[block], 90))
        slower = 1 - statistics.median(r / n for r, n in zip(rates[block], rates["none"], strict=True))
        rows.append(
            {
                "block": block,
                "params": sum(p.numel() for p in model.parameters()),
                "windows_per_s": statistics.median(rates[block]),
                "slower_than_none_pct": 100 * slower,
                "latency_ms": median,
                "latency_p90_ms": p90,
                "ok": median < LATENCY_TARGET_MS and 100 * slower <= SLOWDOWN_TARGET_PCT.get(block, 0.0),
            }
        )

    header = f"{'block':<6} {'params':>8} {'windows/s':>10} {'vs none':>8} {'1-window ms':>12} {'p90 ms':>7}"
    header += f"  target <{LATENCY_TARGET_MS} ms, vs none"
    print(
        f"{args.backbone}, {args.channels}x{args.length} windows, {args.classes} classes; batch {args.batch} "
        f"on {torch.get_num_threads()} threads, latency on 1 thread"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['block']:<6} {r['params']:>8,} {r['windows_per_s']:>10.0f} {0.0 - r['slower_than_none_pct']:>+7.1f}% "
            f"{r['latency_ms']:>12.3f} {r['latency_p90_ms']:>7.3f}  {'ok' if r['ok'] else 'MISSED'}"
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
        "rounds": args.rounds,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "predict_speed-cpu.json"
    targets = {"latency_ms": LATENCY_TARGET_MS, "slower_than_none_pct": SLOWDOWN_TARGET_PCT}
    path.write_text(json.dumps({"meta": meta, "targets": targets, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
