"""Training throughput of sigattn's batch path against a plain Dataset/DataLoader loop, same model.

    SIGATTN_DATA_DIR=/path/to/data python benchmarks/train_speed.py [--epochs 3] [--repeats 2]
        [--block se] [--batch 64] [--device cpu] [--threads N] [--bf16] [--compile] [--mitdb-rss]

Data: CWRU 10-class windows as in pipelines/cwru-10class.yaml (load 0, window 2048 stride 512,
segment split); without SIGATTN_DATA_DIR a synthetic set of the same window length, said so in
the output. Each variant trains the same model (same seed, AdamW, cosine, batch size) for the same
epochs, validating every epoch and testing the best one. sigattn runs through `fit` itself, so
its windows/s is the `train_windows_per_s` it logs; the reference is the usual loop, a Dataset
whose `__getitem__` returns one window and a shuffling DataLoader with 0 and 2 workers. A
variant's windows/s is the median over epochs after the first (warm-up, compilation, worker
start), then over `--repeats` runs made in alternating order. Targets: >= 1.5x the 0-worker
reference on CPU and >= 5x on a GPU, at equal test accuracy. To isolate the data path from any
background load, one model also alternates single steps fed each way (`--steps`). On CUDA it
also reports GPU utilisation (sampled) and peak memory. `--mitdb-rss` also prepares MIT-BIH and
trains DS1 (the mitdb-interpatient base) for one epoch in a child process and reports its peak
RSS (target < 2 GB). Prints a table and writes benchmarks/results/train_speed-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate

from sigattn.config import RunConfig, load_config
from sigattn.data.prepare import Prepared, prepare
from sigattn.data.types import Windows
from sigattn.device import resolve_precision, seed_everything
from sigattn.evaluate.predict import evaluate
from sigattn.experiments.run import train_and_report
from sigattn.models.checkpoint import model_for
from sigattn.train.batching import DeviceBatches
from sigattn.train.bundle import bundle_meta
from sigattn.train.tracker import NullTracker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from blocks import cpu_name  # noqa: E402

TARGET_RATIO = {"cpu": 1.5, "cuda": 5.0}
MITDB_RSS_TARGET_GB = 2.0


class GpuSampler:
    """Samples GPU utilisation (%) every 0.1 s while active; empty off CUDA or without NVML."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.samples, self._stop = device, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.samples.append(float(torch.cuda.utilization(self.device)))
            except Exception:  # no pynvml: fall back to nvidia-smi, else give up
                value = _nvidia_smi_utilisation(self.device.index or 0)
                if value is None:
                    return
                self.samples.append(value)

    def __enter__(self) -> GpuSampler:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def summary(self) -> dict[str, Any]:
        if self.device.type != "cuda":
            return {}
        util = round(statistics.mean(self.samples), 1) if self.samples else None
        return {"gpu_util_pct": util, "peak_mem_mb": round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)}


def _nvidia_smi_utilisation(index: int) -> float | None:
    query = ["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
    try:
        return float(subprocess.run(query, capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


class Throughput(NullTracker):
    """Keeps the `train_windows_per_s` that `fit` logs each epoch."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if "train_windows_per_s" in metrics:
            self.rates.append(metrics["train_windows_per_s"])


class OneWindow(Dataset):
    """The usual Dataset: one window and its label per `__getitem__`."""

    def __init__(self, windows: Windows) -> None:
        self.x, self.y = windows.x, windows.y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.x[i]), int(self.y[i])


def _steady(rates: list[float]) -> float:
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def run_sigattn(cfg: RunConfig, prepared: Prepared, device: torch.device) -> dict[str, Any]:
    tracker = Throughput()
    with GpuSampler(device) as gpu:
        result = train_and_report(cfg, prepared, tracker, progress=False)
    return {
        "windows_per_s": _steady(tracker.rates),
        "epoch_rates": tracker.rates,
        "test_accuracy": result.test_metrics["accuracy"],
        **gpu.summary(),
    }


def run_reference(cfg: RunConfig, prepared: Prepared, device: torch.device, workers: int) -> dict[str, Any]:
    """The plain loop: same seed, model, optimiser, schedule, batch size; best val epoch on test."""
    t = cfg.train
    seed_everything(t.seed)
    meta = bundle_meta(cfg, prepared)
    model = model_for(meta).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs)
    loader = DataLoader(
        OneWindow(prepared.splits["train"]),
        batch_size=t.batch_size,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
    )
    criterion, rates, best = nn.CrossEntropyLoss(), [], (-1.0, None)
    with GpuSampler(device) as gpu:
        for _ in range(t.epochs):
            model.train()
            seen, start = 0, time.perf_counter()
            for xb, yb in loader:
                if len(yb) < 2:
                    continue
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                loss = criterion(model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                seen += len(yb)
            loss.item()  # wait for the device
            rates.append(seen / (time.perf_counter() - start))
            schedule.step()
            val, _ = evaluate(model, prepared.splits["val"], batch_size=max(256, t.batch_size))
            if val["macro_f1"] > best[0]:
                best = (val["macro_f1"], {k: v.detach().clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[1])
    test, _ = evaluate(model, prepared.splits["test"], batch_size=max(256, t.batch_size))
    return {"windows_per_s": _steady(rates), "epoch_rates": rates, "test_accuracy": test["accuracy"], **gpu.summary()}


def interleaved_steps(cfg: RunConfig, prepared: Prepared, device: torch.device, steps: int) -> dict[str, float]:
    """The data path alone: one model alternates a step fed by sigattn's index gather with a step fed
    by per-window `__getitem__` + `default_collate` on the same indices; median ms of each (after 5)."""
    t = cfg.train
    seed_everything(t.seed)
    meta = bundle_meta(cfg, prepared)
    model = model_for(meta).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    criterion, train = nn.CrossEntropyLoss(), prepared.splits["train"]
    gather, one_window = DeviceBatches(train.x, train.y, device), OneWindow(train)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {"gather": [], "per_window": [], "gather_load": [], "per_window_load": []}
    generator = torch.Generator().manual_seed(t.seed)
    for _ in range(steps):
        idx = torch.randperm(len(train), generator=generator)[: t.batch_size]
        for name in ("gather", "per_window"):
            sync()
            start = time.perf_counter()
            if name == "gather":
                (xb,), yb = next(gather([idx]))
            else:
                xb, yb = default_collate([one_window[i] for i in idx.tolist()])
                xb, yb = xb.to(device), yb.to(device)
            sync()
            loaded = time.perf_counter()
            loss = criterion(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sync()
            times[name].append(1e3 * (time.perf_counter() - start))
            times[f"{name}_load"].append(1e3 * (loaded - start))
    return {f"{k}_ms": statistics.median(v[5:] if len(v) > 5 else v) for k, v in times.items()}


def _combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeats of one variant: the median windows/s, every epoch's rate, the mean test accuracy."""
    row = dict(results[0])
    row["windows_per_s"] = statistics.median(r["windows_per_s"] for r in results)
    row["epoch_rates"] = [r["epoch_rates"] for r in results]
    row["test_accuracy"] = statistics.mean(r["test_accuracy"] for r in results)
    row["test_accuracies"] = [r["test_accuracy"] for r in results]
    return row


def base_config(args: argparse.Namespace, checkpoints: Path) -> tuple[RunConfig, str]:
    """The cwru-10class base with this run's settings; synthetic windows when there is no data dir."""
    base = yaml.safe_load((ROOT / "pipelines" / "cwru-10class.yaml").read_text())["base"]
    sets = [
        f"model.block={args.block}",
        f"train.epochs={args.epochs}",
        f"train.batch_size={args.batch}",
        f"train.device={args.device}",
        "train.patience=0",
        "train.quiet=true",
        f"train.checkpoint_dir={checkpoints}",
    ]
    data_dir = os.environ.get("SIGATTN_DATA_DIR")
    if data_dir and (Path(data_dir).expanduser() / "cwru").is_dir():
        return load_config(base, sets), "cwru 10class (load 0, window 2048/512, segment split)"
    base["data"] = {"dataset": "synthetic", "window": base["data"]["window"], "synthetic": {"n_per_class": 8}}
    return load_config(base, sets), "SYNTHETIC (SIGATTN_DATA_DIR has no cwru/): window 2048/512, 4 classes"


MITDB_CHILD = """
import json, resource, sys, yaml
from sigattn.config import load_config
from sigattn.data.prepare import prepare
from sigattn.experiments.run import train_and_report
base = yaml.safe_load(open(sys.argv[1]).read())["base"]
cfg = load_config(base, ["train.epochs=1", "train.device=cpu", "train.checkpoint_dir=" + sys.argv[2]])
prepared = prepare(cfg.data)
result = train_and_report(cfg, prepared, progress=False)
print(json.dumps({"self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "train_windows": len(prepared.splits["train"]), "from_cache": prepared.from_cache,
                  "data_path": result.data_path, "test_accuracy": result.test_metrics["accuracy"]}))
"""


def mitdb_rss(checkpoints: Path) -> dict[str, Any]:
    """Peak RSS of preparing MIT-BIH (DS1 train/val, DS2 test) and training one epoch, in a child."""
    start = time.perf_counter()
    pipeline = ROOT / "pipelines" / "mitdb-interpatient.yaml"
    out = subprocess.run(
        [sys.executable, "-c", MITDB_CHILD, str(pipeline), str(checkpoints)], capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    peak_gb = max(report["self_kb"], report["children_kb"]) * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    return {
        **report,
        "peak_rss_gb": round(peak_gb, 3),
        "target_gb": MITDB_RSS_TARGET_GB,
        "ok": peak_gb < MITDB_RSS_TARGET_GB,
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--block", default="se")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument(
        "--bf16", action="store_true", help="also time train.precision=bf16 where it is not the default"
    )
    parser.add_argument("--compile", action="store_true", help="also time sigattn with train.compile=true")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant, in alternating order")
    parser.add_argument("--steps", type=int, default=40, help="interleaved steps for the data-path-alone figure")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="reference DataLoader workers")
    parser.add_argument("--mitdb-rss", action="store_true", help="also measure peak RSS on MIT-BIH (minutes)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    kind = device.type

    with tempfile.TemporaryDirectory(prefix="sigattn-speed-") as tmp:
        os.environ.setdefault("SIGATTN_CACHE_DIR", str(Path(tmp) / "cache"))
        cfg, data_note = base_config(args, Path(tmp) / "ckpt")
        prepared = prepare(cfg.data)
        runs: dict[str, Any] = {f"reference, {w} workers": (run_reference, w) for w in args.workers}
        variants = {"sigattn (device path)": [], "sigattn (stream path)": ["train.data_path=stream"]}
        auto = resolve_precision("auto", device)
        other = ["fp32"] if auto != "fp32" else []  # precision auto is bf16/fp16 here; the reference trains in fp32
        other += ["bf16"] if args.bf16 and auto != "bf16" else []
        variants |= {f"sigattn {p} (device path)": [f"train.precision={p}"] for p in other}
        if args.compile:
            variants["sigattn compile (device path)"] = ["train.compile=true"]
            variants |= {f"sigattn compile+{p} (device)": ["train.compile=true", f"train.precision={p}"] for p in other}
        runs |= {name: (run_sigattn, load_config(cfg.to_dict(), sets)) for name, sets in variants.items()}
        measured: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
        for repeat in range(args.repeats):  # alternate the order, so a busy spell of the CPU hits all alike
            for name in list(runs) if repeat % 2 == 0 else reversed(list(runs)):
                function, arg = runs[name]
                if function is run_reference:
                    measured[name].append(run_reference(cfg, prepared, device, arg))
                else:
                    measured[name].append(run_sigattn(arg, prepared, device))
        rows = {name: _combine(results) for name, results in measured.items()}
        steps = interleaved_steps(cfg, prepared, device, args.steps)
        rss = mitdb_rss(Path(tmp) / "ckpt-mitdb") if args.mitdb_rss else None

    reference = rows[f"reference, {args.workers[0]} workers"]
    target = TARGET_RATIO.get(kind)
    header = f"{'variant':<30} {'windows/s':>10} {'ratio':>6} {'test acc':>9}" + (
        f" {'GPU util %':>10} {'peak MB':>8}" if kind == "cuda" else ""
    )
    print(f"data: {data_note}; {len(prepared.splits['train'])} train windows; block {args.block}, batch {args.batch}")
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        row["ratio"] = row["windows_per_s"] / reference["windows_per_s"]
        row["accuracy_delta"] = row["test_accuracy"] - reference["test_accuracy"]
        line = f"{name:<30} {row['windows_per_s']:>10.1f} {row['ratio']:>5.2f}x {row['test_accuracy']:>9.4f}"
        if kind == "cuda":
            line += f" {row.get('gpu_util_pct') or float('nan'):>10.1f} {row.get('peak_mem_mb', 0):>8.1f}"
        print(line)
    if target is not None:
        default = rows["sigattn (device path)"]["ratio"]
        name, best = max(((n, r) for n, r in rows.items() if n.startswith("sigattn")), key=lambda nr: nr[1]["ratio"])
        verdict = {True: "ok", False: "MISSED"}
        print(f"\ntarget: sigattn >= {target}x the reference ({args.workers[0]} workers) at equal accuracy")
        print(f"  default settings ({auto}): {default:.2f}x ({verdict[default >= target]})")
        print(
            f"  fastest, {name}: {best['ratio']:.2f}x ({verdict[best['ratio'] >= target]}), "
            f"accuracy {best['accuracy_delta']:+.4f} against the reference"
        )
    print(
        f"interleaved steps (data path alone): index gather {steps['gather_ms']:.2f} ms/step "
        f"(loading {steps['gather_load_ms']:.3f} ms), per-window Dataset + collate {steps['per_window_ms']:.2f} "
        f"ms/step (loading {steps['per_window_load_ms']:.3f} ms): {steps['per_window_ms'] / steps['gather_ms']:.2f}x"
    )
    if rss is not None:
        print(
            f"MIT-BIH DS1, 1 epoch: peak RSS {rss['peak_rss_gb']:.2f} GB (target < {MITDB_RSS_TARGET_GB} GB: "
            f"{'ok' if rss['ok'] else 'MISSED'}), {rss['train_windows']} train beats, {rss['seconds']} s"
        )

    meta = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if kind == "cuda" else cpu_name(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "default_precision": auto,
        "torch": torch.__version__,
        "data": data_note,
        "train_windows": len(prepared.splits["train"]),
        "block": args.block,
        "batch": args.batch,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"train_speed-{kind}.json"
    report = {"meta": meta, "target_ratio": target, "rows": rows, "interleaved_steps": steps, "mitdb_rss": rss}
    path.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
