"""A model with side features is logged with two named inputs: `torch_model(x, side)`, and the served
`model` that standardises raw side features itself."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import mlflow
import mlflow.pyfunc
import mlflow.pytorch
import numpy as np
import torch

from sigattn.config import load_config
from sigattn.data.side import RR_FEATURES, SideStats, rr_side_features
from sigattn.models.checkpoint import model_for, save_checkpoint
from sigattn.models.meta import ModelMeta
from sigattn.tracking import tracked_run
from sigattn.tracking.store import global_tracking_uri


def test_side_feature_model_is_logged_with_inputs_x_and_side(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setattr(logging.getLogger("torch.__trace"), "propagate", False)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    raw_side = rr_side_features(rng.uniform(0.5, 1.2, size=(4, 4)))  # what a client sends
    stats = SideStats.fit(rr_side_features(rng.uniform(0.5, 1.2, size=(40, 4))))
    meta = ModelMeta(model=load_config(None, ["model.block=cbam", "model.widths=[8,8,8,8]"]).to_dict()["model"],
                     in_channels=1, classes=("N", "S", "V"), fs=360.0, window_length=260, window_stride=None,
                     transforms=(), dataset="mitdb", side_features=RR_FEATURES, side_stats=stats.to_dict())  # fmt: skip
    model = model_for(meta).eval()
    checkpoint = save_checkpoint(tmp_path / "best.pt", model=model, meta=meta)
    x = rng.standard_normal((4, 1, 260), dtype=np.float32)
    with tracked_run(SimpleNamespace(uri=None, experiment="side", run_name=None), run_name="r") as tracker:
        tracker.log_model(model, checkpoint, x[:2], side_example=raw_side[:2])
    side = stats.apply(raw_side)  # what the bare module reads
    with global_tracking_uri(tracker.tracking_uri):
        info = mlflow.models.get_model_info(f"runs:/{tracker.run_id}/torch_model")
        loaded = mlflow.pytorch.load_model(f"runs:/{tracker.run_id}/torch_model")
        served_info = mlflow.models.get_model_info(f"runs:/{tracker.run_id}/model")
        served = mlflow.pyfunc.load_model(f"runs:/{tracker.run_id}/model").predict({"x": x, "side": raw_side})
    assert [spec.name for spec in info.signature.inputs.inputs] == ["x", "side"]
    assert [spec.name for spec in served_info.signature.inputs.inputs] == ["x", "side"]
    with torch.no_grad():
        expected = model(torch.from_numpy(x), torch.from_numpy(side))
        got = loaded(torch.from_numpy(x), torch.from_numpy(side))  # all four rows: the batch axis is dynamic
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    probs = expected.softmax(-1).numpy()
    np.testing.assert_allclose(served[["p_N", "p_S", "p_V"]].to_numpy(), probs, rtol=1e-4, atol=1e-6)
    assert list(served["label"]) == [meta.classes[i] for i in probs.argmax(1)]
