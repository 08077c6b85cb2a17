"""`ensemble: true`: each cell's finished seeds scored once more as one model, in rows of their own."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from sigattn.cli import app

runner = CliRunner()
SPEC = {
    "name": "ens",
    "base": {
        "data": {"dataset": "synthetic", "synthetic": {"n_per_class": 3, "seconds": 1.0},
                 "window": {"length": 256, "stride": 128}},
        "model": {"block": "se", "widths": [8, 8, 8, 8]},
        "train": {"epochs": 1, "quiet": True},
        "tracking": {"experiment": "ens", "overlays_per_class": 0},
    },
    "grid": {"train.seed": [0, 1]},
    "cells": [{"label": "A"}, {"label": "B", "data.synthetic.seed": 3}],
    "ensemble": True,
}  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "ens.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    torch.set_num_threads(1)
    return tmp_path


def test_ensemble_rows_score_the_mean_of_the_seeds(workdir: Path):
    one_seed = runner.invoke(app, ["run", "ens.yaml", "-q", "--grid", "train.seed=[0]"])
    assert one_seed.exit_code == 0, one_seed.output
    assert "ensemble" not in (workdir / "results/ens/summary.md").read_text()  # one seed is no ensemble

    both = runner.invoke(app, ["run", "ens.yaml", "-q"])
    assert both.exit_code == 0, both.output
    assert "scoring each cell's seeds as one model" in both.output
    rows = {r["cell"]: r for r in csv.DictReader((workdir / "results/ens/summary.csv").open())}
    assert rows["A ensemble of seeds"]["runs"] == "1" and rows["all 2 cells:base ensemble of seeds"]["runs"] == "2"
    assert rows["A"]["runs"] == "2"  # the plain rows are unchanged

    client = MlflowClient("sqlite:///" + (workdir / "mlflow.db").as_posix())
    experiment = client.get_experiment_by_name("ens").experiment_id
    runs_a = [r.info.run_id for r in client.search_runs([experiment]) if r.info.run_name.endswith("/A")]
    evaluated = runner.invoke(app, ["eval", *runs_a, "--no-log", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    expected = json.loads(evaluated.stdout)
    assert float(rows["A ensemble of seeds"]["macro_f1"]) == pytest.approx(expected["macro_f1"])
    assert float(rows["A ensemble of seeds"]["accuracy"]) == pytest.approx(expected["accuracy"])

    text = (workdir / "results/ens/summary.md").read_text()
    assert "| cell | ensemble | members' mean |" in text and "| A ensemble of seeds | 1 | " in text
    assert "nan" not in text  # an ensemble has no latency of its own
