"""Checkpoints: exact round trips, atomic writes, and refusing files that would run code."""

from __future__ import annotations

import pickle
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sigattn.errors import SigattnError
from sigattn.models.checkpoint import build_model, load_checkpoint, model_from_checkpoint, save_checkpoint
from sigattn.models.meta import ModelMeta
from sigattn.train.resume import rng_state, set_rng_state

MODEL = {"backbone": "cnn", "block": ["se", "cbam", "eca", "none"], "widths": [8, 8, 16, 16], "dropout": 0.1,
         "options": {}}  # fmt: skip
META = ModelMeta(model=MODEL, in_channels=2, classes=("a", "b", "c"), fs=12000.0, window_length=256,
                 window_stride=128, transforms=({"name": "normalize", "method": "zscore"},), dataset="synthetic",
                 sigattn_version="0.1.0")  # fmt: skip


def trained_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(MODEL, 2, 3)
    model.train()
    model(torch.randn(8, 2, 256)).sum().backward()  # moves BatchNorm running stats off their defaults
    return model.eval()


def test_round_trip_reproduces_outputs_exactly(tmp_path):
    model = trained_model()
    optimizer = torch.optim.AdamW(model.parameters())
    optimizer.step()
    path = save_checkpoint(tmp_path / "run" / "best.pt", model=model, meta=META, epoch=3,
                           optimizer=optimizer.state_dict(), history=[{"epoch": 0, "val_loss": 1.0}])  # fmt: skip
    x = torch.randn(4, 2, 256)
    restored, meta = model_from_checkpoint(path)
    assert meta == META and not restored.training
    assert torch.equal(restored(x), model(x))
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 3 and ckpt["history"] == [{"epoch": 0, "val_loss": 1.0}]
    assert torch.equal(ckpt["optimizer"]["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    again, _ = model_from_checkpoint(ckpt)
    assert torch.equal(again(x), model(x))
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]


def test_compiled_prefix_is_not_saved(tmp_path):
    model = trained_model()
    wrapper = torch.nn.Module()
    wrapper._orig_mod = model  # what torch.compile's OptimizedModule looks like
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "c.pt", model=wrapper, meta=META))
    assert set(ckpt["state_dict"]) == set(model.state_dict())


def test_failed_write_leaves_no_temp_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", model=trained_model(), meta=META, epoch=1)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model=trained_model(), meta=META, epoch=2)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1


def test_meta_must_be_json(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "x.pt", model=trained_model(), meta=replace(META, config={"fs": np.float32(1)}))
    assert not list(tmp_path.iterdir())


class Payload:
    """Unpickling this calls open(marker, "w"): it creates a file if the pickle is executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_payload_is_refused_without_running(tmp_path):
    live = tmp_path / "live-marker"
    torch.save({"state_dict": {}, "meta": Payload(live)}, tmp_path / "control.pt")
    torch.load(tmp_path / "control.pt", weights_only=False)
    assert live.exists()  # the payload is real: an unsafe load runs it

    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": Payload(marker)}, evil)
    with pytest.raises(SigattnError, match="refused: it holds pickled objects") as info:
        load_checkpoint(evil)
    assert str(evil) in str(info.value)
    with pytest.raises(SigattnError, match="refused"):
        model_from_checkpoint(evil)
    raw = tmp_path / "raw.pt"  # a bare pickle, not torch's zip format
    raw.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    with pytest.raises(SigattnError, match=str(raw)):
        load_checkpoint(raw)
    assert not marker.exists()


def test_truncated_garbage_and_missing_files(tmp_path):
    path = save_checkpoint(tmp_path / "best.pt", model=trained_model(), meta=META)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SigattnError, match=rf"checkpoint {cut} is corrupt or truncated"):
        load_checkpoint(cut)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(SigattnError, match=str(junk)):
        load_checkpoint(junk)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(SigattnError, match=str(empty)):
        load_checkpoint(empty)
    with pytest.raises(SigattnError, match=r"checkpoint .*missing.pt not found"):
        load_checkpoint(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, other)
    with pytest.raises(SigattnError, match=rf"checkpoint {other} is not a sigattn checkpoint"):
        load_checkpoint(other)


def test_weights_that_do_not_fit_the_meta(tmp_path):
    meta = replace(META, classes=("a", "b", "c", "d"))
    path = save_checkpoint(tmp_path / "best.pt", model=trained_model(), meta=meta)
    with pytest.raises(SigattnError, match=rf"checkpoint {path} does not match its model config"):
        model_from_checkpoint(path)


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    model, generator = trained_model(), torch.Generator().manual_seed(5)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    path = save_checkpoint(tmp_path / "r.pt", model=model, meta=META, rng=rng_state(generator))

    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item()

    first = draw()
    set_rng_state(load_checkpoint(path)["rng"], generator)
    assert draw() == first


def test_meta_format_is_checked_on_load(tmp_path):
    path = save_checkpoint(tmp_path / "best.pt", model=trained_model(), meta=META)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["meta"]["format"] == 2 and isinstance(load_checkpoint(path)["meta"], ModelMeta)
    for bad in (99, None):
        ckpt["meta"]["format"] = bad
        torch.save(ckpt, tmp_path / "other.pt")
        with pytest.raises(SigattnError, match=rf"checkpoint {tmp_path / 'other.pt'} has metadata format {bad}"):
            load_checkpoint(tmp_path / "other.pt")
    del ckpt["meta"]["classes"]
    ckpt["meta"]["format"] = 2
    torch.save(ckpt, tmp_path / "partial.pt")
    with pytest.raises(SigattnError, match="incomplete model metadata: missing or bad 'classes'"):
        load_checkpoint(tmp_path / "partial.pt")


def test_format_1_with_a_packed_side_channel_is_read_as_a_second_input(tmp_path):
    torch.manual_seed(0)
    model = build_model(MODEL, 1, 3, side_features=2).eval()
    old = {"format": 1, "model": {**MODEL, "options": {"side_features": 2}}, "in_channels": 2,
           "classes": ["a", "b", "c"], "fs": 360.0, "window": {"length": 256, "stride": None}, "transforms": [],
           "dataset": "mitdb", "beat": {"lead": "MLII", "before": 90, "after": 166}}  # fmt: skip
    torch.save({"state_dict": model.state_dict(), "meta": old}, tmp_path / "old.pt")
    restored, meta = model_from_checkpoint(tmp_path / "old.pt")
    assert (meta.in_channels, len(meta.side_features), meta.window_stride, meta.beat.before) == (1, 2, None, 90)
    assert "side_features" not in meta.model["options"]
    x, side = torch.randn(4, 1, 256), torch.randn(4, 2)
    assert torch.equal(restored(x, side), model(x, side))
