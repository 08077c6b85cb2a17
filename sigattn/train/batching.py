"""Where training batches come from: the whole split on the device, or a memory-mapped store.

`device`: the train split is one tensor on the training device (on CPU, the prepared arrays
themselves, not a copy) and a batch is an index gather there: no per-sample Python, no workers.
`stream`: the split is written once as `x.npy`/`y.npy` (and `side.npy`), memory-mapped, and a DataLoader with
workers (and pinned memory on CUDA) gathers each batch from it. Both consume the same index
batches, drawn by `epoch_batches` from one seeded generator in the main process, so they give the
same batches and losses and resume alike. `auto` takes `device` when the split needs at most
`MEMORY_FRACTION` of the memory free on the device (CUDA: `torch.cuda.mem_get_info`; CPU and MPS:
available RAM), else `stream`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sigattn.outputs import atomic_file

MEMORY_FRACTION = 0.5  # the rest is left for weights, activations, optimizer state and other processes
Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]  # (model inputs: x, and side if any), labels


def epoch_batches(
    n: int,
    batch_size: int,
    generator: torch.Generator,
    weights: torch.Tensor | None = None,
    *,
    rank: int = 0,
    world: int = 1,
) -> list[torch.Tensor]:
    """One epoch of index batches for process `rank` of `world`.

    The epoch order is a seeded permutation of `n`, or `n` class-balanced draws with replacement
    when `weights` are given; it is cut into global batches of `batch_size`, and each process takes
    every `world`-th index of each global batch (so all processes draw the same order and run the
    same number of steps). A trailing batch that cannot give each process two samples is dropped
    (BatchNorm cannot train on one).
    """
    if weights is not None:
        order = torch.multinomial(weights, n, replacement=True, generator=generator)
    else:
        order = torch.randperm(n, generator=generator)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < 2 * world:
        batches.pop()
    return [b[rank::world] for b in batches] if world > 1 else batches


def available_memory_on_host() -> int:
    """MemAvailable from /proc/meminfo where there is one, else free (or, on macOS, all) physical pages."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            continue
    return 0


def available_memory(device: torch.device) -> int:
    """Bytes free on `device`: CUDA's free memory, else available RAM (MPS shares it)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return available_memory_on_host()


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.1f} MiB" if nbytes < 2**30 else f"{nbytes / 2**30:,.2f} GiB"


def choose_path(requested: str, nbytes: int, device: torch.device, free: int | None = None) -> tuple[str, str]:
    """("device" or "stream", why): `requested` unless it is "auto", which compares `nbytes` with
    `MEMORY_FRACTION` of `free` (default: `available_memory(device)`)."""
    if requested != "auto":
        return requested, f"train.data_path {requested}"
    free = available_memory(device) if free is None else free
    fits = nbytes <= MEMORY_FRACTION * free
    sign = "<=" if fits else ">"
    why = f"auto: train split {_size(nbytes)} {sign} {MEMORY_FRACTION:.0%} of {_size(free)} free on {device.type}"
    return ("device" if fits else "stream"), why


class DeviceBatches:
    """The split as tensors on `device`; each batch is an index gather on the device."""

    kind = "device"
    workers = 0

    def __init__(self, x: np.ndarray, y: np.ndarray, device: torch.device, side: np.ndarray | None = None) -> None:
        self.device = device
        self.inputs = tuple(torch.from_numpy(a).to(device) for a in (x, side) if a is not None)
        self.y = torch.from_numpy(y.astype(np.int64)).to(device)

    def __call__(self, batches: list[torch.Tensor]) -> Iterator[Batch]:
        if not batches:
            return
        order = torch.cat(batches).to(self.device)  # one copy per epoch, not one per batch
        for idx in order.split([len(b) for b in batches]):
            yield tuple(a[idx] for a in self.inputs), self.y[idx]

    def close(self) -> None:
        pass


def write_store(folder: Path, x: np.ndarray, y: np.ndarray, side: np.ndarray | None = None) -> Path:
    """`folder/x.npy` (float32), `folder/y.npy` (int64) and `folder/side.npy` (float32, if given), each
    written to a temporary file and renamed; files already there with the right shapes are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [("x", np.asarray(x, dtype=np.float32)), ("y", np.asarray(y, dtype=np.int64))]
    arrays += [] if side is None else [("side", np.asarray(side, dtype=np.float32))]
    for name, array in arrays:
        path = folder / f"{name}.npy"
        try:
            kept = np.load(path, mmap_mode="r")
            if kept.shape == array.shape and kept.dtype == array.dtype:
                continue
        except (OSError, ValueError):
            pass
        with atomic_file(path) as f:
            np.save(f, np.ascontiguousarray(array))
    return folder


class _Store(Dataset):
    """Batches gathered from the memory-mapped store; each worker maps the files on first use."""

    def __init__(self, folder: Path, names: tuple[str, ...]) -> None:
        self.folder, self.names = folder, names
        self.inputs: list[np.ndarray] = []
        self.y: np.ndarray | None = None

    def __getitem__(self, idx: torch.Tensor) -> Batch:
        if self.y is None:
            self.inputs = [np.load(self.folder / f"{name}.npy", mmap_mode="r") for name in self.names]
            self.y = np.load(self.folder / "y.npy", mmap_mode="r")
        rows = idx.numpy()
        return tuple(torch.from_numpy(a[rows]) for a in self.inputs), torch.from_numpy(self.y[rows])


class _EpochSampler(Sampler):
    """Yields the index batches of the current epoch (set before each pass)."""

    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def default_workers(processes: int = 1) -> int:
    """DataLoader workers per process: half the CPUs shared among `processes`, at most 4."""
    return min(4, (os.cpu_count() or 1) // (2 * max(1, processes)))


class StreamBatches:
    """The split in a memory-mapped .npy store (`folder`, or a temporary one removed by `close`),
    read by a DataLoader with `workers` persistent workers, pinned memory on CUDA."""

    kind = "stream"

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        device: torch.device,
        folder: Path | None = None,
        workers: int = 0,
        side: np.ndarray | None = None,
    ) -> None:
        self.device, self.workers = device, workers
        self._temporary = folder is None
        folder = Path(tempfile.mkdtemp(prefix="sigattn-stream-")) if folder is None else folder
        self.folder = write_store(folder, x, y, side)
        self._sampler = _EpochSampler()
        self._loader: DataLoader | None = DataLoader(
            _Store(self.folder, ("x",) if side is None else ("x", "side")),
            batch_size=None,  # the sampler yields whole index batches
            sampler=self._sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            generator=torch.Generator(),  # its worker seeds must not draw from the global RNG (dropout)
        )

    def __call__(self, batches: list[torch.Tensor]) -> Iterator[Batch]:
        self._sampler.batches = batches
        for inputs, yb in self._loader:
            moved = tuple(a.to(self.device, non_blocking=True) for a in inputs)
            yield moved, yb.to(self.device, non_blocking=True)

    def close(self) -> None:
        """Stop the workers and remove a temporary store."""
        self._loader = None
        if self._temporary:
            shutil.rmtree(self.folder, ignore_errors=True)


def batch_source(
    requested: str,
    x: np.ndarray,
    y: np.ndarray,
    device: torch.device,
    *,
    store: Path | None = None,
    workers: int | None = None,
    side: np.ndarray | None = None,
) -> tuple[DeviceBatches | StreamBatches, str]:
    """The batch source `requested` ("auto", "device" or "stream") resolves to, and why.

    `store` is where the stream path keeps its files (None: a temporary folder); `workers`
    None means `default_workers()`.
    """
    nbytes = int(x.nbytes) + 8 * len(y) + (0 if side is None else int(side.nbytes))
    kind, why = choose_path(requested, nbytes, device)
    if kind == "device":
        return DeviceBatches(x, y, device, side), why
    return StreamBatches(x, y, device, store, default_workers() if workers is None else workers, side), why
