"""Batch sources: the device path and the memory-mapped stream path give the same batches and runs."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from sigattn.config import load_config
from sigattn.data.prepare import Prepared, prepare
from sigattn.errors import SigattnError
from sigattn.models.checkpoint import load_checkpoint
from sigattn.train import batching
from sigattn.train.batching import (
    DeviceBatches,
    StreamBatches,
    batch_source,
    choose_path,
    epoch_batches,
    write_store,
)
from sigattn.train.loop import fit
from sigattn.train.tracker import NullTracker

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread, no OpenMP spin-waits

TINY = [
    "data.synthetic={n_per_class: 3, seconds: 1.0}",
    "data.window={length: 512, stride: 256}",
    "model.widths=[8, 8, 16, 16]",
    "train.batch_size=32",
    "train.device=cpu",
    "train.epochs=2",
]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Prepared:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIGATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return prepare(load_config(None, TINY).data)


def test_ranks_take_disjoint_shares_of_the_same_order():
    whole = epoch_batches(103, 16, torch.Generator().manual_seed(3))
    shares = [epoch_batches(103, 16, torch.Generator().manual_seed(3), rank=r, world=2) for r in range(2)]
    assert len(shares[0]) == len(shares[1]) == len(whole) == 7  # the trailing 7 give each rank 2 or more
    for b, s0, s1 in zip(whole, *shares, strict=True):
        assert torch.equal(torch.sort(torch.cat([s0, s1])).values, torch.sort(b).values)
        assert not set(s0.tolist()) & set(s1.tolist())
    assert len(epoch_batches(99, 16, torch.Generator(), world=2)) == 6  # a trailing 3 cannot feed two ranks twice


def test_auto_picks_the_device_when_the_split_fits_and_says_why():
    kind, why = choose_path("auto", 2**20, CPU, free=4 * 2**20)
    assert kind == "device" and why == "auto: train split 1.0 MiB <= 50% of 4.0 MiB free on cpu"
    kind, why = choose_path("auto", 600 * 2**20, CPU, free=2**30)
    assert kind == "stream" and why == "auto: train split 600.0 MiB > 50% of 1.00 GiB free on cpu"
    assert choose_path("stream", 1, CPU, free=2**40) == ("stream", "train.data_path stream")
    assert choose_path("device", 2**40, CPU, free=1) == ("device", "train.data_path device")
    assert batching.available_memory(CPU) > 0


@pytest.mark.parametrize("workers", [0, 1])
def test_stream_and_device_sources_yield_the_same_batches(tmp_path, workers):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 2, 16), dtype=np.float32), rng.integers(0, 3, 50)
    batches = epoch_batches(50, 8, torch.Generator().manual_seed(1))
    device = DeviceBatches(x, y, CPU)
    stream = StreamBatches(x, y, CPU, tmp_path / "store", workers=workers)
    for _ in range(2):  # a second epoch reuses the (persistent) workers
        pairs = list(zip(device(batches), stream(batches), strict=True))
        assert len(pairs) == len(batches)
        for ((xd,), yd), ((xs,), ys) in pairs:
            assert torch.equal(xd, xs) and torch.equal(yd, ys) and ys.dtype == torch.int64
    stream.close()
    assert (tmp_path / "store" / "x.npy").is_file(), "a named store is kept for the next run"
    temporary = StreamBatches(x, y, CPU)
    assert temporary.folder.is_dir()
    temporary.close()
    assert not temporary.folder.exists()


def test_write_store_keeps_matching_files_and_replaces_others(tmp_path):
    x, y = np.ones((4, 1, 8), np.float32), np.arange(4)
    write_store(tmp_path, x, y)
    before = (tmp_path / "x.npy").stat().st_mtime_ns
    write_store(tmp_path, x, y)
    assert (tmp_path / "x.npy").stat().st_mtime_ns == before
    write_store(tmp_path, np.zeros((5, 1, 8), np.float32), np.arange(5))
    assert np.load(tmp_path / "x.npy").shape == (5, 1, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


def test_batch_source_follows_the_request(tmp_path):
    x, y = np.zeros((4, 1, 8), np.float32), np.arange(4)
    source, why = batch_source("stream", x, y, CPU, store=tmp_path / "s", workers=0)
    assert source.kind == "stream" and why == "train.data_path stream"
    source.close()
    assert batch_source("auto", x, y, CPU)[0].kind == "device"


def test_data_path_config_is_checked():
    with pytest.raises(SigattnError, match="train.data_path must be one of: auto, device, stream; got 'disk'"):
        load_config(None, ["train.data_path=disk"])


class StopAfterFirstEpoch(NullTracker):
    """Sets `stop` when epoch 0's validation metrics arrive, so the run stops between epochs."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if "val_loss" in metrics:
            self.stop.set()


def test_stream_run_matches_device_run_and_resumes(tmp_path, prepared, monkeypatch):
    cfg = load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path / 'ckpt'}", "train.data_path=device"])
    on_device = fit(cfg, prepared, progress=False)
    monkeypatch.setattr(batching, "available_memory", lambda device: 1024)  # auto must now stream
    auto = load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path / 'ckpt'}"])
    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        fit(auto, prepared, StopAfterFirstEpoch(stop), progress=False, stop=stop)
    (last,) = [p for p in (tmp_path / "ckpt").glob("*/last.pt") if p != on_device.last_checkpoint]
    assert load_checkpoint(last)["epoch"] == 0
    resumed = fit(auto, prepared, resume=load_checkpoint(last), progress=False)
    assert resumed.data_path == "stream" and on_device.data_path == "device"
    assert resumed.history == on_device.history and resumed.test_metrics == on_device.test_metrics
    assert prepared.cache_path.with_suffix(".train").joinpath("x.npy").is_file()
