"""Wall time of one pipeline grid at `--jobs 1`, `--jobs 2` with torch's default threads, `--jobs 2`, and `--jobs auto`.

    python benchmarks/grid_speed.py [--pipeline pipelines/quickstart-blocks.yaml] [--set KEY=VALUE ...]
        [--settings jobs1 jobs2-default-threads jobs2 auto]

Each setting runs the whole grid from scratch into a tracking store of its own (a temporary
sqlite file), so no cell is skipped, one setting after the other. "jobs2-default-threads" gives
each of the 2 workers as many threads as the machine has cores (torch's default, i.e. the cores
oversubscribed); `--jobs N` itself gives each worker cores // N. Target: `auto` takes less wall
time than `jobs1` and than `jobs2-default-threads`. Prints a table and writes
benchmarks/results/grid_speed-cpu.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from sigattn.experiments.jobs import usable_cores
from sigattn.experiments.pipeline import run_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from blocks import cpu_name, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTINGS: dict[str, tuple[int | str, int | None]] = {  # name -> (jobs, threads per worker; None = the plan's)
    "jobs1": (1, None),
    "jobs2-default-threads": (2, usable_cores()),
    "jobs2": (2, None),
    "auto": ("auto", None),
}


def time_grid(pipeline: Path, jobs: int | str, threads: int | None, sets: list[str], folder: Path) -> dict[str, Any]:
    """Run the whole grid into a fresh store under `folder` (artifacts in its mlruns/); wall seconds,
    cells and the plan used."""
    plans: list[Any] = []
    folder.mkdir(parents=True)
    home = Path.cwd()
    os.chdir(folder)
    start = time.perf_counter()
    try:
        result = run_pipeline(
            pipeline,
            jobs=jobs,
            threads=threads,
            tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
            overrides=[*sets, f"train.checkpoint_dir={folder / 'ckpt'}"],
            out_dir=folder / "summary",
            on_event=lambda kind, value: plans.append(value) if kind == "jobs" else None,
        )
    finally:
        os.chdir(home)
    plan = plans[0]
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "cells": len(result.outcomes),
        "failed": len(result.failed),
        "workers": plan.jobs,
        "threads_per_worker": plan.threads,
        "reason": plan.reason,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=ROOT / "pipelines" / "quickstart-blocks.yaml")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="config override for every cell")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="sigattn-grid-") as tmp:
        os.environ.setdefault("SIGATTN_CACHE_DIR", str(Path(tmp) / "cache"))
        for name in args.settings:
            jobs, threads = SETTINGS[name]
            folder = Path(tmp) / name
            rows[name] = time_grid(args.pipeline.resolve(), jobs, threads, args.sets, folder)
            print(f"{name}: {rows[name]['seconds']:.1f} s", flush=True)

    print(f"\n{'setting':<24} {'workers':>7} {'threads':>7} {'wall s':>8} {'vs jobs1':>8}  cells")
    base = rows.get("jobs1", {}).get("seconds")
    for name, row in rows.items():
        ratio = f"{base / row['seconds']:.2f}x" if base else "-"
        cells = f"{row['cells']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        print(
            f"{name:<24} {row['workers']:>7} {row['threads_per_worker']:>7} {row['seconds']:>8.1f} {ratio:>8}  {cells}"
        )
    if "auto" in rows:
        others = [n for n in ("jobs1", "jobs2-default-threads") if n in rows]
        met = all(rows["auto"]["seconds"] < rows[n]["seconds"] for n in others)
        print(f"target: auto faster than {', '.join(others)}: {'met' if met else 'MISSED'}")
    meta = {"cpu": cpu_name(), "cores": usable_cores(), "torch": torch.__version__,
            "pipeline": os.path.relpath(args.pipeline.resolve(), ROOT), "sets": args.sets}  # fmt: skip
    write_report(args.out, "grid_speed-cpu.json", {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
