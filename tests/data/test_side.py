"""RR side features: packing into one extra channel, models that read it, and MIT-BIH preparation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sigattn.config import load_config
from sigattn.data.side import RR_FEATURES, pack, rr_side_features, unpack
from sigattn.errors import SigattnError
from sigattn.explain.deletion import deletion_test
from sigattn.models import create_model
from sigattn.train.checkpoint import build_model


def test_pack_and_unpack_round_trip_for_numpy_and_torch():
    x = np.random.default_rng(0).normal(size=(5, 2, 32)).astype(np.float32)
    side = np.arange(20, dtype=np.float32).reshape(5, 4)
    packed = pack(x, side)
    assert packed.shape == (5, 3, 32) and not packed[:, -1, 4:].any()
    signal, got = unpack(packed, 4)
    np.testing.assert_array_equal(signal, x)
    np.testing.assert_array_equal(got, side)
    t_signal, t_side = unpack(torch.from_numpy(packed), 4)
    assert torch.equal(t_signal, torch.from_numpy(x)) and torch.equal(t_side, torch.from_numpy(side))
    assert unpack(packed, 0)[1] is None
    with pytest.raises(SigattnError, match="do not fit"):
        pack(x[:, :, :3], side)


def test_rr_side_features_are_normalised_by_the_record_mean():
    rr = np.array([[0.8, 1.2, 1.0, 1.0], [0.4, 0.6, 0.5, 0.5], [0.3, 0.6, 0.6, 0.5]], np.float32)
    expected = [[0.8, 1.2, 1.0, 1.0, 0.8], [0.8, 1.2, 1.0, 0.5, 0.8], [0.6, 1.2, 1.2, 0.5, 0.5]]
    np.testing.assert_allclose(rr_side_features(rr), expected, rtol=1e-6)
    assert len(RR_FEATURES) == 5
    with pytest.raises(SigattnError, match=r"\(N, 4\)"):
        rr_side_features(rr[:, :3])


@pytest.mark.parametrize(("backbone", "length"), [("cnn", 260), ("resnet", 260), ("wdcnn", 600)])
def test_models_read_the_side_features(backbone: str, length: int):
    torch.manual_seed(0)
    model = create_model(backbone, 2, 5, side_features=4).eval()
    x = torch.randn(3, 2, length)
    moved = x.clone()
    moved[:, -1, :4] += 1.0
    assert model(x).shape == (3, 5)
    assert not torch.allclose(model(x), model(moved))  # the head reads the side features
    beyond = x.clone()
    beyond[:, -1, 4:] += 1.0
    assert torch.allclose(model(x), model(beyond))  # the rest of the side channel is ignored
    with pytest.raises(SigattnError, match="in_channels >= 2"):
        create_model(backbone, 1, 5, side_features=4)


def test_config_sets_side_features_only_through_rr_features():
    with pytest.raises(SigattnError, match="data.rr_features needs dataset 'mitdb'"):
        load_config(None, ["data.rr_features=true"])
    with pytest.raises(SigattnError, match="data.rr_features sets it"):
        load_config(None, ["model.options={side_features: 4}"])


def test_deletion_test_never_masks_the_side_channel():
    torch.manual_seed(0)
    model = create_model("cnn", 2, 3, side_features=4, widths=(8, 8, 8, 8)).eval()
    x = pack(np.random.default_rng(0).normal(size=(16, 1, 256)).astype(np.float32), np.ones((16, 4), np.float32))
    y = model(torch.from_numpy(x)).argmax(1).numpy()
    out = deletion_test(model, x, y, None, fraction=0.5, ig_steps=4, seed=0)
    assert out["accuracy"] == 1.0 and set(out) >= {"accuracy_ig", "accuracy_random"}


def test_mitdb_preparation_packs_rr_features(real_data_dir: Path, tmp_path: Path, monkeypatch):
    from sigattn.data.prepare import prepare
    from sigattn.train.bundle import bundle_meta

    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    cfg = load_config(None, ["data.dataset=mitdb", f"data.data_dir={real_data_dir}", "data.rr_features=true"])
    prepared = prepare(cfg.data)
    test = prepared.splits["test"]
    assert test.x.shape[1:] == (2, 260)
    np.testing.assert_allclose(test.x[:, -1, :5], rr_side_features(test.features), rtol=1e-6)
    meta = bundle_meta(cfg, prepared)
    assert meta["model"]["options"]["side_features"] == len(RR_FEATURES) and meta["in_channels"] == 2
    model = build_model(meta["model"], meta["in_channels"], len(prepared.classes)).eval()
    assert model(torch.from_numpy(test.x[:8])).shape == (8, 5)


def test_predict_refuses_models_that_read_rr_features():
    from sigattn.evaluate.files import windows_for_model

    meta = {"model": {"backbone": "cnn", "options": {"side_features": 4}}, "in_channels": 2}
    with pytest.raises(SigattnError, match="rec.csv: this model also reads the RR intervals"):
        windows_for_model(np.zeros((1, 1000), np.float32), 360.0, meta, "rec.csv")
