"""RR side features: the model's second input, from MIT-BIH preparation to training and explanations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sigattn.config import load_config
from sigattn.data.side import RR_FEATURES, rr_side_features
from sigattn.data.types import Windows
from sigattn.data.windows import concat, take
from sigattn.errors import SigattnError
from sigattn.evaluate.predict import evaluate, predict_proba
from sigattn.explain.capture import collect_attention
from sigattn.explain.deletion import deletion_test
from sigattn.models import create_model
from sigattn.models.checkpoint import model_for
from sigattn.models.meta import ModelMeta
from sigattn.train.batching import DeviceBatches, StreamBatches


def test_rr_side_features_are_normalised_by_the_record_mean():
    rr = np.array([[0.8, 1.2, 1.0, 1.0], [0.4, 0.6, 0.5, 0.5], [0.3, 0.6, 0.6, 0.5]], np.float32)
    expected = [[0.8, 1.2, 1.0, 1.0, 0.8, 2 / 3], [0.8, 1.2, 1.0, 0.5, 0.8, 2 / 3], [0.6, 1.2, 1.2, 0.5, 0.5, 0.5]]
    np.testing.assert_allclose(rr_side_features(rr), expected, rtol=1e-6)
    assert len(RR_FEATURES) == 6
    with pytest.raises(SigattnError, match=r"\(N, 4\)"):
        rr_side_features(rr[:, :3])


@pytest.mark.parametrize(("backbone", "length"), [("cnn", 260), ("resnet", 260), ("wdcnn", 600)])
def test_models_read_the_side_features_as_a_second_input(backbone: str, length: int):
    torch.manual_seed(0)
    model = create_model(backbone, 1, 5, side_features=4).eval()
    x, side = torch.randn(3, 1, length), torch.randn(3, 4)
    assert model(x, side).shape == (3, 5)
    assert not torch.allclose(model(x, side), model(x, side + 1.0))  # the head reads the side features
    with pytest.raises(SigattnError, match="reads 4 side features: pass `side`"):
        model(x)
    plain = create_model(backbone, 1, 5).eval()
    assert plain(x).shape == (3, 5)


def test_config_sets_side_features_only_through_rr_features():
    with pytest.raises(SigattnError, match="data.rr_features needs dataset 'mitdb'"):
        load_config(None, ["data.rr_features=true"])
    with pytest.raises(SigattnError, match="data.rr_features sets it"):
        load_config(None, ["model.options={side_features: 4}"])


def _windows(n: int, side: bool) -> Windows:
    rng = np.random.default_rng(0)
    return Windows(rng.normal(size=(n, 1, 256)).astype(np.float32), np.arange(n) % 3, ("N", "S", "V"),
                   np.array(["r"] * n), np.array(["r"] * n), np.arange(n), 360.0,
                   side=rng.normal(size=(n, 4)).astype(np.float32) if side else None)  # fmt: skip


def test_windows_carry_side_features_through_take_and_concat():
    w = _windows(6, side=True)
    part = take(w, np.array([4, 1]))
    np.testing.assert_array_equal(part.side, w.side[[4, 1]])
    np.testing.assert_array_equal(concat([part, w]).side, np.concatenate([part.side, w.side]))
    with pytest.raises(SigattnError, match="only some carry side features"):
        concat([part, _windows(2, side=False)])


def test_evaluation_attention_and_deletion_feed_the_side_input():
    torch.manual_seed(0)
    model = create_model("cnn", 1, 3, side_features=4, widths=(8, 8, 8, 8), block="cbam").eval()
    w = _windows(16, side=True)
    probs = predict_proba(model, w.x, side=w.side)
    expected = model(torch.from_numpy(w.x), torch.from_numpy(w.side)).softmax(-1).detach().numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    metrics, _ = evaluate(model, w)
    assert metrics["n"] == 16
    assert collect_attention(model, w.x, side=w.side)[0].temporal.shape[0] == 16
    y = probs.argmax(1)
    out = deletion_test(model, w.x, y, None, side=w.side, fraction=0.5, ig_steps=4, seed=0)
    assert out["accuracy"] == 1.0 and set(out) >= {"accuracy_ig", "accuracy_random"}


@pytest.mark.parametrize("kind", ["device", "stream"])
def test_batches_carry_the_side_input(kind: str, tmp_path: Path):
    w = _windows(10, side=True)
    cpu = torch.device("cpu")
    source = (
        DeviceBatches(w.x, w.y, cpu, w.side) if kind == "device" else StreamBatches(w.x, w.y, cpu, tmp_path, 0, w.side)
    )
    ((x, side), y), *_ = list(source([torch.tensor([7, 2, 5])]))
    assert torch.equal(side, torch.from_numpy(w.side[[7, 2, 5]])) and torch.equal(x, torch.from_numpy(w.x[[7, 2, 5]]))
    source.close()


def test_mitdb_preparation_gives_rr_features_as_side_input(real_data_dir: Path, tmp_path: Path, monkeypatch):
    from sigattn.data.prepare import prepare
    from sigattn.train.bundle import bundle_meta

    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    cfg = load_config(None, ["data.dataset=mitdb", f"data.data_dir={real_data_dir}", "data.rr_features=true"])
    prepared = prepare(cfg.data)
    test = prepared.splits["test"]
    assert test.x.shape[1:] == (1, 260) and test.side.shape == (len(test), len(RR_FEATURES))
    np.testing.assert_allclose(test.side, prepared.side_stats.apply(rr_side_features(test.features)), rtol=1e-6)
    meta = bundle_meta(cfg, prepared)
    assert meta.side_features == RR_FEATURES and meta.in_channels == 1
    model = model_for(meta).eval()
    assert model(torch.from_numpy(test.x[:8]), torch.from_numpy(test.side[:8])).shape == (8, 5)


def test_predict_refuses_models_that_read_rr_features():
    from sigattn.evaluate.files import windows_for_model

    meta = ModelMeta(model={"backbone": "cnn"}, in_channels=1, classes=("N", "S"), fs=360.0, window_length=260,
                     window_stride=None, transforms=(), dataset="mitdb", side_features=RR_FEATURES)  # fmt: skip
    with pytest.raises(SigattnError, match="rec.csv: this model also reads the RR intervals"):
        windows_for_model(np.zeros((1, 1000), np.float32), 360.0, meta, "rec.csv")
