"""One atomic-write helper for every file sigattn writes: usual file mode, no umask toggling, no debris."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sigattn.models.checkpoint import save_checkpoint
from sigattn.models.meta import ModelMeta
from sigattn.outputs import atomic_file, write_atomically
from sigattn.train.batching import write_store

META = ModelMeta(model={"backbone": "cnn"}, in_channels=1, classes=("a", "b"), fs=1.0, window_length=8,
                 window_stride=8, transforms=(), dataset="synthetic")  # fmt: skip


def _never_umask(mask: int) -> int:
    raise AssertionError("os.umask changes the mask of every thread in the process")


def test_every_writer_gives_the_usual_mode_without_touching_the_umask(tmp_path: Path, monkeypatch):
    umask = os.umask(0o022)
    try:
        monkeypatch.setattr(os, "umask", _never_umask)
        write_atomically(tmp_path / "summary.md", "x")
        save_checkpoint(tmp_path / "best.pt", model=torch.nn.Linear(1, 1), meta=META)
        write_store(tmp_path / "store", np.zeros((2, 1, 4), np.float32), np.zeros(2))
    finally:
        monkeypatch.undo()
        os.umask(umask)
    for path in (tmp_path / "summary.md", tmp_path / "best.pt", tmp_path / "store" / "x.npy"):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_a_failed_block_leaves_the_old_file_and_no_temporary_file(tmp_path: Path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as f:
        f.write(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]
