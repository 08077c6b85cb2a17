"""`sigattn train` ends by saying how to open the run in the MLflow UI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from sigattn.cli import app

TINY = {
    "data": {
        "dataset": "synthetic",
        "synthetic": {"n_per_class": 3, "seconds": 1.0},
        "window": {"length": 256, "stride": 128},
    },
    "model": {"block": "none", "widths": [8, 8, 8, 8]},
    "train": {"epochs": 1, "quiet": True},
    "tracking": {"experiment": "hint", "overlays_per_class": 0},
}


def test_train_prints_the_ui_command_and_the_run_page_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    torch.set_num_threads(1)
    result = CliRunner().invoke(app, ["train", "tiny.yaml"])
    assert result.exit_code == 0, result.output
    client = MlflowClient("sqlite:///" + (tmp_path / "mlflow.db").as_posix())
    experiment_id = client.get_experiment_by_name("hint").experiment_id
    (run,) = client.search_runs([experiment_id])
    page = f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run.info.run_id}"
    last = result.stdout.strip().splitlines()[-1]
    assert last == f"view it: run `mlflow ui` in {tmp_path}, then open {page}"
