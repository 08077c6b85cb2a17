"""A model with side features is logged with two named inputs and loads back as `model(x, side)`."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import mlflow
import mlflow.pytorch
import numpy as np
import torch

from sigattn.models import create_model
from sigattn.tracking import tracked_run
from sigattn.tracking.store import global_tracking_uri


def test_side_feature_model_is_logged_with_inputs_x_and_side(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setattr(logging.getLogger("torch.__trace"), "propagate", False)
    torch.manual_seed(0)
    model = create_model("cnn", 1, 3, block="cbam", widths=(8, 8, 8, 8), side_features=5).eval()
    checkpoint = tmp_path / "best.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    rng = np.random.default_rng(0)
    x, side = rng.standard_normal((4, 1, 260), dtype=np.float32), rng.standard_normal((4, 5), dtype=np.float32)
    with tracked_run(SimpleNamespace(uri=None, experiment="side", run_name=None), run_name="r") as tracker:
        tracker.log_model(model, checkpoint, x[:2], side_example=side[:2])
    with global_tracking_uri(tracker.tracking_uri):
        info = mlflow.models.get_model_info(f"runs:/{tracker.run_id}/model")
        loaded = mlflow.pytorch.load_model(f"runs:/{tracker.run_id}/model")
    assert [spec.name for spec in info.signature.inputs.inputs] == ["x", "side"]
    with torch.no_grad():
        expected = model(torch.from_numpy(x), torch.from_numpy(side))
        got = loaded(torch.from_numpy(x), torch.from_numpy(side))  # all four rows: the batch axis is dynamic
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
