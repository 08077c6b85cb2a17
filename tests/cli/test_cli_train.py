"""train / eval / predict end to end through the CLI, tracked in a real MLflow store."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from sigattn.cli import app
from sigattn.evaluate.raw import predict_raw
from sigattn.models.checkpoint import model_from_checkpoint

runner = CliRunner()
SMALL = {
    "data": {
        "dataset": "synthetic",
        "synthetic": {"n_per_class": 4, "seconds": 1.0},
        "window": {"length": 512, "stride": 256},
    },
    "model": {"block": "cbam", "widths": [8, 16, 16, 16]},
    "train": {"epochs": 2, "batch_size": 32, "quiet": True},
    "tracking": {"experiment": "e2e", "overlays_per_class": 0},
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder as the working directory: its own mlflow.db, mlruns/, checkpoints/ and cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(SMALL))
    torch.set_num_threads(1)
    return tmp_path


def run(*args: str):
    result = runner.invoke(app, list(args))
    return result


def client() -> MlflowClient:
    return MlflowClient("sqlite:///" + Path("mlflow.db").resolve().as_posix())


def run_id_from(output: str) -> str:
    return re.search(r"^run ([0-9a-f]{32}) \(", output, re.MULTILINE).group(1)


def test_train_says_when_validation_saturated(workdir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sigattn.train.saturation.PERFECT", 0.0)  # every score counts as perfect
    trained = run("train", "small.yaml", "--set", "train.epochs=1")
    assert trained.exit_code == 0, trained.output
    assert "validation saturated: val_macro_f1 = 1 at epoch 0 (1 of 1 epochs)" in trained.output
    assert client().get_run(run_id_from(trained.output)).data.metrics["val_saturated"] == 1.0


def test_train_eval_predict_and_pyfunc(workdir: Path, tiny_checkpoint):
    trained = run("train", "small.yaml", "--seed", "3", "--set", "train.adapt_bn=true")
    assert trained.exit_code == 0, trained.output
    assert "best val_macro_f1" in trained.output and "test accuracy" in trained.output
    assert "test +AdaBN (target data) accuracy" in trained.output
    run_id = run_id_from(trained.output)

    info = client().get_run(run_id)
    assert info.info.status == "FINISHED" and info.info.run_name == "synthetic-4c/cbam/seed3"
    assert info.data.params["train.seed"] == "3" and info.data.tags["block"] == "cbam"
    assert {"dataset", "backbone", "split", "git_commit"} <= set(info.data.tags)
    steps = [m.step for m in client().get_metric_history(run_id, "val_accuracy")]
    assert steps == [0, 1]
    assert "test_accuracy" in info.data.metrics
    perfect = max(m.value for m in client().get_metric_history(run_id, "val_macro_f1")) >= 1.0
    assert info.data.metrics["val_saturated"] == float(perfect)
    assert ("validation saturated: val_macro_f1 = 1 at epoch" in trained.output) == perfect
    artifacts = {a.path for a in client().list_artifacts(run_id)}
    assert {"config.yaml", "checkpoints", "plots", "reports"} <= artifacts
    assert {a.path for a in client().list_artifacts(run_id, "plots")} >= {
        "plots/confusion_test.png",
        "plots/curves.png",
    }
    assert client().get_run(run_id).inputs.dataset_inputs, "the input dataset is recorded"

    evaluated = run("eval", run_id)
    assert evaluated.exit_code == 0, evaluated.output
    assert f"(of run {run_id})" in evaluated.output and "test: accuracy" in evaluated.output
    eval_runs = client().search_runs([info.info.experiment_id], filter_string=f"tags.`sigattn.source_run` = '{run_id}'")
    assert len(eval_runs) == 1 and "eval_test_accuracy" in eval_runs[0].data.metrics
    adapted = run("eval", run_id, "--adapt-bn", "--no-log", "--json")
    assert adapted.exit_code == 0, adapted.output
    assert "AdaBN: BatchNorm statistics re-estimated on the" in adapted.stderr
    scores = json.loads(adapted.stdout)
    assert scores["accuracy"] == pytest.approx(info.data.metrics["test_adabn_accuracy"])  # as the run scored it
    twice = run("eval", run_id, run_id, "--no-log")  # an ensemble of one model twice scores as the model
    assert twice.exit_code == 0, twice.output
    single = re.search(r"test: accuracy = [0-9.]+", evaluated.output).group(0)
    assert f"{single}," in twice.output and "(mean of 2 models)" in twice.output
    mixed = run("eval", run_id, str(tiny_checkpoint("se")), "--no-log")
    error = mixed.output.strip().splitlines()[-1]  # after MLflow's download progress
    assert mixed.exit_code == 1 and "ensemble member" in error and "Traceback" not in mixed.output
    assert "input (channels, samples) (1, 256), but" in error and f"{run_id} has (1, 512)" in error

    signal_file = workdir / "signal.npy"
    np.save(signal_file, np.random.default_rng(0).standard_normal((1, 3000)).astype(np.float32))
    predicted = run("predict", run_id, str(signal_file), "--out", "preds.csv")
    assert predicted.exit_code == 0, predicted.output
    lines = (workdir / "preds.csv").read_text().splitlines()
    assert lines[0] == "file,start,time_s,predicted,p_Normal,p_IR,p_B,p_OR"
    assert len(lines) == 1 + (3000 - 512) // 256 + 1
    assert lines[2].split(",")[1] == "256"

    net, meta = model_from_checkpoint(next(workdir.glob(f"checkpoints/{run_id}/best.pt")))
    x = np.random.default_rng(1).standard_normal((3, 1, 512)).astype(np.float32)
    mlflow.set_tracking_uri("sqlite:///" + (workdir / "mlflow.db").as_posix())
    try:
        served = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(x)  # raw windows in, names out
        logits = mlflow.pyfunc.load_model(f"runs:/{run_id}/torch_model").predict(x)  # the bare module
    finally:
        mlflow.set_tracking_uri(None)
    probs = predict_raw(net, meta, x)
    assert list(served["label"]) == [meta.classes[i] for i in probs.argmax(1)]
    np.testing.assert_allclose(served[[f"p_{c}" for c in meta.classes]].to_numpy(), probs, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=1e-4, atol=1e-5)


def test_a_crash_ends_the_run_failed(workdir: Path, monkeypatch: pytest.MonkeyPatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("sigattn.experiments.run.train_and_report", explode)
    result = run("train", "small.yaml")
    assert isinstance(result.exception, RuntimeError)
    (crashed,) = client().search_runs([client().get_experiment_by_name("e2e").experiment_id])
    assert crashed.info.status == "FAILED"


def test_sigterm_saves_a_checkpoint_ends_killed_and_resume_continues_the_same_run(workdir: Path):
    config = {**SMALL, "data": {**SMALL["data"], "synthetic": {"n_per_class": 12, "seconds": 2.0}}}
    config["train"] = {**SMALL["train"], "epochs": 3}
    (workdir / "slow.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sigattn", "train", "slow.yaml"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(workdir.glob("checkpoints/*/last.pt")) and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "continue with `sigattn train --resume" in output and "Traceback" not in output
    (killed,) = client().search_runs([client().get_experiment_by_name("e2e").experiment_id])
    assert killed.info.status == "KILLED"
    run_id = killed.info.run_id
    done_before = [m.step for m in client().get_metric_history(run_id, "val_accuracy")]
    assert done_before and done_before[-1] < 2

    resumed = run("train", "--resume", run_id, "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert run_id_from(resumed.output) == run_id
    after = client().get_run(run_id)
    assert after.info.status == "FINISHED"
    steps = [m.step for m in client().get_metric_history(run_id, "val_accuracy")]
    assert steps == list(range(3))
    assert len(client().search_runs([after.info.experiment_id])) == 1


def test_team_mode_against_a_real_mlflow_server(workdir: Path, mlflow_server: str):
    trained = run("train", "small.yaml", "--tracking-uri", mlflow_server, "--experiment", "team")
    assert trained.exit_code == 0, trained.output
    run_id = run_id_from(trained.output)
    remote = MlflowClient(mlflow_server)
    assert remote.get_run(run_id).info.status == "FINISHED"
    assert [m.step for m in remote.get_metric_history(run_id, "val_loss")] == [0, 1]
    evaluated = run("eval", run_id, "--tracking-uri", mlflow_server)
    assert evaluated.exit_code == 0, evaluated.output
    assert not (workdir / "mlflow.db").exists(), "nothing was logged to the local store"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "missing.yaml"], "missing.yaml"),
        (["train", "--set", "train.epoch=3"], "unknown config key train.epoch"),
        (["train", "--set", "model.block=transformer"], "transformer"),
        (["train", "--tracking-uri", "http://127.0.0.1:9"], "unreachable"),
        (["eval", "0123456789abcdef0123456789abcdef"], "0123456789abcdef0123456789abcdef"),
        (["predict", "nope.pt", "x.npy"], "nope.pt"),
    ],
)
def test_train_eval_predict_errors_are_one_line(workdir: Path, args: list[str], message: str):
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
