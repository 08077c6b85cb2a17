"""The eager training rate behind `train.compile: auto`: how a CPU training step's time grows with window length.

    python benchmarks/eager_rate.py [--lengths 92 260 854 2048] [--rounds 10] [--threads 1]

Times a training step (SGD, batch 64) of the default `cnn` (block none) eagerly, one window
length after the other in alternating order, round after round, and fits time per window =
(length + overhead) / rate by least squares on the relative error. `auto` estimates a run's eager time as epochs x
training windows x (length + WINDOW_OVERHEAD_SAMPLES) / EAGER_SAMPLES_PER_S
(sigattn/train/compiling.py); the table puts the fitted values beside those constants. Writes
benchmarks/results/eager_rate-cpu.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from sigattn.models import create_model
from sigattn.train import compiling

sys.path.insert(0, str(Path(__file__).parent))
from blocks import cpu_name, write_report  # noqa: E402
from pool_order import seconds, training_steps  # noqa: E402

BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[92, 260, 854, 2048])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="steps timed together in a round")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = [str(n) for n in args.lengths]
    models = {name: create_model("cnn", 1, 10) for name in names}
    data = {name: (torch.randn(BATCH, 1, int(name)), torch.randint(0, 10, (BATCH,))) for name in names}
    steps = {name: training_steps({name: models[name]}, *data[name]) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up
        steps[name](name)
    for r in range(args.rounds):
        for name in names[:: 1 if r % 2 else -1]:
            times[name].append(seconds(lambda n=name: steps[n](n), args.repeats) / BATCH)
    per_window = {name: statistics.median(values) for name, values in times.items()}
    seconds_per_window = np.array([per_window[n] for n in names])
    fit = np.polyfit(np.array(args.lengths, float), seconds_per_window, 1, w=1 / seconds_per_window)  # relative error
    slope, intercept = fit
    rate, overhead = 1 / slope, intercept / slope
    print(f"| window length | windows/s | samples/s | fitted windows/s |  ({cpu_name()}, {args.threads} thread(s))")
    print("|---:|---:|---:|---:|")
    for name in names:
        fitted = rate / (int(name) + overhead)
        print(f"| {name} | {1 / per_window[name]:,.0f} | {int(name) / per_window[name]:,.0f} | {fitted:,.0f} |")
    print(f"fitted: rate {rate:,.0f} samples/s, overhead {overhead:.0f} samples a window; "
          f"auto uses {compiling.EAGER_SAMPLES_PER_S:,.0f} and {compiling.WINDOW_OVERHEAD_SAMPLES}")  # fmt: skip
    report = {
        "meta": {
            "cpu": cpu_name(),
            "threads": args.threads,
            "torch": torch.__version__,
            "batch": BATCH,
            "rounds": args.rounds,
            "repeats": args.repeats,
        },  # fmt: skip
        "windows_per_s": {name: 1 / value for name, value in per_window.items()},
        "fitted": {"samples_per_s": rate, "overhead_samples": overhead},
        "auto_uses": {
            "samples_per_s": compiling.EAGER_SAMPLES_PER_S,
            "overhead_samples": compiling.WINDOW_OVERHEAD_SAMPLES,
        },  # fmt: skip
    }
    write_report(Path(__file__).parent / "results", "eager_rate-cpu.json", report)


if __name__ == "__main__":
    main()
