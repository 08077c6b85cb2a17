"""sigattn.tracking against a real MLflow: the local default store, and a real `mlflow server`."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
import yaml
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service import utils as tracking_utils

from sigattn.config import load_config
from sigattn.data.side import RR_FEATURES, SideStats, rr_side_features
from sigattn.errors import SigattnError
from sigattn.evaluate.raw import predict_raw
from sigattn.models.checkpoint import load_checkpoint, model_for, save_checkpoint
from sigattn.models.meta import BeatGeometry, ModelMeta
from sigattn.tracking import (
    SOURCE_RUN_TAG,
    MlflowTracker,
    link_evaluation,
    resolve_checkpoint,
    run_info,
    source_run_id,
    tracked_run,
)
from sigattn.tracking.store import global_tracking_uri
from sigattn.train.tracker import Tracker

LOCAL = SimpleNamespace(uri=None, experiment="sigattn-test", run_name=None)


@pytest.fixture(autouse=True)
def local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test in its own folder, with no tracking URI from outside; no run or URI left behind."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # pytest's log capture would make torch.export build its (large) structured trace payloads
    monkeypatch.setattr(logging.getLogger("torch.__trace"), "propagate", False)
    yield tmp_path
    assert mlflow.active_run() is None
    assert tracking_utils._tracking_uri is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(uri: str | None = None) -> MlflowClient:
    return MlflowClient(uri or "sqlite:///" + Path("mlflow.db").resolve().as_posix())


ZSCORE = ({"name": "normalize", "method": "zscore"},)


def _model_and_checkpoint(folder: Path, transforms: tuple = ZSCORE) -> tuple[torch.nn.Module, Path, np.ndarray]:
    """A sigattn checkpoint (best.pt with its ModelMeta) of an untrained 3-class model on (N, C, 256)
    prepared windows: C = 1, or 2 when the transforms add an envelope channel."""
    torch.manual_seed(0)
    channels = 2 if any(t["name"] == "add_envelope" for t in transforms) else 1
    meta = ModelMeta(model=load_config(None, ["model.block=se"]).to_dict()["model"], in_channels=channels,
                     classes=("a", "b", "c"), fs=1000.0, window_length=256, window_stride=None,
                     transforms=transforms, dataset="synthetic")  # fmt: skip
    model = model_for(meta)
    checkpoint = save_checkpoint(folder / "best.pt", model=model, meta=meta)
    return model, checkpoint, np.random.default_rng(0).standard_normal((4, channels, 256)).astype(np.float32)


def _predict_pyfunc(model_uri: str, tracking_uri: str, x: np.ndarray) -> Any:
    """Load the logged model and predict (MLflow 3.17 drops `tracking_uri` on the way from a
    runs:/ URI to its logged model, so the global URI is set meanwhile)."""
    with global_tracking_uri(tracking_uri):
        return mlflow.pyfunc.load_model(model_uri).predict(x)


def test_tracker_satisfies_protocol():
    members = {name for name in dir(Tracker) if not name.startswith("_")} | {"run_id"}
    assert members <= set(dir(MlflowTracker)) | {"run_id"}


def test_default_store_is_sqlite_in_cwd_with_artifacts_in_mlruns(local_store: Path):
    with tracked_run(LOCAL, run_name="cnn-se-synthetic") as tracker:
        (local_store / "notes.txt").write_text("hello")
        tracker.log_file(local_store / "notes.txt", "extra")
        figure = Figure()
        figure.subplots().plot([0, 1], [1, 0])
        tracker.log_figure(figure, "plots/line.png")
        tracker.set_tags({"backbone": "cnn"})
    assert (local_store / "mlflow.db").is_file()
    run = _client().get_run(tracker.run_id)
    artifact_dir = Path(run.info.artifact_uri.removeprefix("file://"))
    assert artifact_dir.is_relative_to(local_store / "mlruns")
    assert (artifact_dir / "extra" / "notes.txt").read_text() == "hello"
    assert (artifact_dir / "plots" / "line.png").stat().st_size > 0
    assert run.info.run_name == "cnn-se-synthetic" and run.info.status == "FINISHED"
    assert run.data.tags["backbone"] == "cnn"
    assert tracker.url is None


def test_config_is_flattened_params_once_and_yaml_artifact():
    config = {
        "model": {"backbone": "cnn", "widths": (16, 32)},
        "data": {"window": {"length": 1024}},
        "note": "x" * 7000,
    }
    with tracked_run(LOCAL, run_name="r") as tracker:
        tracker.log_config(config)
    client = _client()
    params = client.get_run(tracker.run_id).data.params
    assert params["model.backbone"] == "cnn" and params["model.widths"] == "[16, 32]"
    assert params["data.window.length"] == "1024"
    assert len(params["note"]) == 6000 and params["note"].endswith("...")
    saved = yaml.safe_load(Path(client.download_artifacts(tracker.run_id, "config.yaml")).read_text())
    assert saved["model"]["widths"] == [16, 32] and saved["data"]["window"]["length"] == 1024


def test_metrics_keep_their_steps():
    with tracked_run(LOCAL, run_name="r") as tracker:
        for epoch in range(3):
            tracker.log_metrics({"train/loss": 1.0 / (epoch + 1), "val/acc": np.float32(0.1 * epoch)}, step=epoch)
    history = _client().get_metric_history(tracker.run_id, "train/loss")
    assert [(m.step, round(m.value, 4)) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.3333)]
    assert [m.step for m in _client().get_metric_history(tracker.run_id, "val/acc")] == [0, 1, 2]


def test_dataset_is_recorded_with_digest_summary_and_context():
    long_digest = "ab" * 32
    with tracked_run(LOCAL, run_name="r") as tracker:
        tracker.log_dataset("synthetic", "3f2a9c1d", {"windows": 120, "classes": ("a", "b")}, "training")
        tracker.log_dataset("synthetic-test", long_digest, {"windows": 30}, "testing")
    inputs = {d.dataset.name: d for d in _client().get_run(tracker.run_id).inputs.dataset_inputs}
    train = inputs["synthetic"]
    assert train.dataset.digest == "3f2a9c1d"
    assert json.loads(train.dataset.profile) == {"windows": 120, "classes": ["a", "b"]}
    assert {t.key: t.value for t in train.tags}["mlflow.data.context"] == "training"
    test = inputs["synthetic-test"]
    assert test.dataset.digest == long_digest[:36]
    assert {t.key: t.value for t in test.tags}["sigattn.digest"] == long_digest


@pytest.mark.parametrize(
    ("error", "status"), [(None, "FINISHED"), (RuntimeError, "FAILED"), (KeyboardInterrupt, "KILLED")]
)
def test_run_never_stays_running(error: type[BaseException] | None, status: str):
    run_id = None
    try:
        with tracked_run(LOCAL, run_name="r") as tracker:
            run_id = tracker.run_id
            tracker.log_metrics({"loss": 1.0}, step=0)
            if error is not None:
                raise error("boom")
    except BaseException as caught:  # noqa: B036 - KeyboardInterrupt must come out unchanged
        assert error is not None and type(caught) is error
    assert _client().get_run(run_id).info.status == status


def test_tracker_refuses_to_log_after_its_run_ended():
    with tracked_run(LOCAL, run_name="r") as tracker:
        pass
    with pytest.raises(SigattnError, match="has ended"):
        tracker.log_metrics({"loss": 1.0}, step=1)


def test_resume_reopens_the_same_run_and_continues_its_steps():
    config = {"train": {"epochs": 2, "lr": 0.001}}
    with pytest.raises(KeyboardInterrupt), tracked_run(LOCAL, run_name="long") as first:
        first.log_config(config)
        for epoch in range(2):
            first.log_metrics({"loss": 1.0 - 0.1 * epoch}, step=epoch)
        raise KeyboardInterrupt
    assert _client().get_run(first.run_id).info.status == "KILLED"
    with tracked_run(LOCAL, run_name="ignored", resume_run_id=first.run_id) as again:
        assert again.run_id == first.run_id and again.resumed
        again.log_config(config)  # same values: nothing to log, no error
        again.log_config({"train": {"epochs": 4, "lr": 0.001}})  # changed: params stay, a tag says so
        again.log_metrics({"loss": 0.7}, step=2)
    run = _client().get_run(first.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "long"
    assert run.data.params["train.epochs"] == "2"
    assert json.loads(run.data.tags["sigattn.changed_params"]) == {"train.epochs": {"was": "2", "now": "4"}}
    assert [m.step for m in _client().get_metric_history(first.run_id, "loss")] == [0, 1, 2]
    assert len(_client().search_runs([run.info.experiment_id])) == 1


def test_unknown_resume_id_fails_before_starting_a_run():
    with (
        pytest.raises(SigattnError, match="run to resume '0+' not found"),
        tracked_run(LOCAL, run_name="r", resume_run_id="0" * 32),
    ):
        pass


def test_child_runs_nest_under_their_parent():
    with tracked_run(LOCAL, run_name="pipeline") as parent:
        with tracked_run(LOCAL, run_name="child-a", parent_run_id=parent.run_id) as child:
            pass
        with tracked_run(LOCAL, run_name="child-b") as implicit:  # inside a tracked_run: nested too
            pass
    assert _client().get_run(parent.run_id).info.status == "FINISHED"
    for run in (child, implicit):
        assert _client().get_run(run.run_id).data.tags["mlflow.parentRunId"] == parent.run_id


def test_dead_tracking_server_fails_fast_with_one_line(monkeypatch: pytest.MonkeyPatch, local_store: Path):
    dead = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(SigattnError) as info, tracked_run(SimpleNamespace(uri=dead), run_name="r"):
        pass
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "\n" not in message and f"tracking store {dead} is unreachable" in message
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    with pytest.raises(SigattnError, match="unset MLFLOW_TRACKING_URI"), tracked_run(None, run_name="r"):
        pass
    with tracked_run(None, run_name="offline", offline=True) as tracker:  # offline: the local store
        tracker.log_metrics({"loss": 1.0}, step=0)
    assert os.environ["MLFLOW_TRACKING_URI"] == dead
    assert tracker.tracking_uri.endswith(str(local_store / "mlflow.db"))


@pytest.mark.parametrize(
    ("uri", "match"),
    [("sqlite:///missing/dir/mlflow.db", "folder .*missing/dir does not exist"), ("file:./mlruns", "is unusable")],
)
def test_unusable_store_is_a_one_line_sigattn_error(uri: str, match: str):
    with pytest.raises(SigattnError, match=match) as info, tracked_run(SimpleNamespace(uri=uri), run_name="r"):
        pass
    assert "\n" not in str(info.value)


def test_envelope_model_logs_prepared_windows_and_serves_the_plain_signal(local_store: Path):
    envelope = ({"name": "add_envelope", "low": 50.0, "high": 400.0, "order": 4}, *ZSCORE)
    model, checkpoint, x = _model_and_checkpoint(local_store, envelope)  # x: prepared, signal + envelope
    with tracked_run(LOCAL, run_name="r") as tracker:
        tracker.log_model(model, checkpoint, x[:2])
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    torch_model = _predict_pyfunc(f"runs:/{tracker.run_id}/torch_model", tracker.tracking_uri, x)
    np.testing.assert_allclose(torch_model, expected, rtol=1e-4, atol=1e-5)
    raw = x[:, :1]  # a client sends the signal alone; the served model adds the envelope
    served = _predict_pyfunc(f"runs:/{tracker.run_id}/model", tracker.tracking_uri, raw)
    probs = predict_raw(model, load_checkpoint(checkpoint)["meta"], raw)
    np.testing.assert_allclose(served[["p_a", "p_b", "p_c"]], probs, rtol=1e-4, atol=1e-6)


def test_spectrum_model_serves_signal_windows_of_the_trained_length(local_store: Path):
    model, checkpoint, x = _model_and_checkpoint(local_store, ({"name": "spectrum"}, *ZSCORE))
    prepared = np.abs(np.fft.rfft(x, axis=-1)).astype(np.float32)  # (4, 1, 129): what the model reads
    with tracked_run(LOCAL, run_name="r") as tracker:
        tracker.log_model(model, checkpoint, prepared[:2])
    with global_tracking_uri(tracker.tracking_uri):
        served = mlflow.pyfunc.load_model(f"runs:/{tracker.run_id}/model")
    assert np.asarray(served.input_example["x"]).shape == (2, 1, 256)  # signal windows, not spectra
    probs = predict_raw(model, load_checkpoint(checkpoint)["meta"], x)
    np.testing.assert_allclose(served.predict(x)[["p_a", "p_b", "p_c"]], probs, rtol=1e-4, atol=1e-6)


def test_beat_model_scaled_per_record_is_logged_without_an_input_example(local_store: Path, caplog):
    rr = np.random.default_rng(1).uniform(0.5, 1.2, size=(8, 4))
    meta = ModelMeta(
        model=load_config(None, ["model.block=se"]).to_dict()["model"],
        in_channels=1,
        classes=("N", "S", "V"),
        fs=360.0,
        window_length=260,
        window_stride=None,
        transforms=ZSCORE,
        dataset="mitdb",
        side_features=RR_FEATURES,
        side_stats=SideStats.fit(rr_side_features(rr)).to_dict(),
        beat=BeatGeometry("MLII", 90, 170),
        config={"data": {"amplitude": "record-median-beat"}},
    )
    model = model_for(meta)
    checkpoint = save_checkpoint(local_store / "best.pt", model=model, meta=meta)
    x = np.random.default_rng(0).standard_normal((2, 1, 260)).astype(np.float32)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with tracked_run(LOCAL, run_name="r") as tracker:
            tracker.log_model(model, checkpoint, x, side_example=rr_side_features(rr[:2]))
    said = [r.getMessage() for r in caplog.records] + [str(w.message) for w in caught]
    assert not [line for line in said if "input example" in line], said
    with global_tracking_uri(tracker.tracking_uri):
        served = mlflow.pyfunc.load_model(f"runs:/{tracker.run_id}/model")
    assert served.input_example is None  # it would only be refused: record-level scaling needs `sigattn eval`


def test_the_served_model_class_is_defined_without_an_mlflow_warning():
    # a fresh process: MLflow warns about an unannotated `predict` once per process, when the class is made
    code = "import sigattn.tracking.served"
    done = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr


def test_logged_model_loads_as_pyfunc_and_predicts_like_torch(local_store: Path):
    model, checkpoint, x = _model_and_checkpoint(local_store)
    model.train()
    with tracked_run(LOCAL, run_name="r") as tracker:
        tracker.log_metrics({"val/acc": 0.5}, step=3)
        start = time.monotonic()
        tracker.log_model(model, checkpoint, x[:1])  # one example row: the batch axis stays dynamic
        elapsed = time.monotonic() - start
    assert model.training, "log_model must not change the caller's model"
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    predicted = _predict_pyfunc(f"runs:/{tracker.run_id}/torch_model", tracker.tracking_uri, x)
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-5)
    served = _predict_pyfunc(f"runs:/{tracker.run_id}/model", tracker.tracking_uri, x)
    assert list(served.columns) == ["label", "p_a", "p_b", "p_c"]  # raw windows in: the model z-scores them itself
    probs = predict_raw(model, load_checkpoint(checkpoint)["meta"], x)
    np.testing.assert_allclose(served[["p_a", "p_b", "p_c"]], probs, rtol=1e-4, atol=1e-6)
    logged = {m.name: m for m in _client().search_logged_models([tracker.experiment_id])}
    assert set(logged) == {"model", "torch_model"}
    assert all(m.source_run_id == tracker.run_id for m in logged.values())
    files = {f.path for f in _client().list_logged_model_artifacts(logged["torch_model"].model_id)}
    assert {"MLmodel", "extra_files", "data", "input_example.json"} <= files
    data = {f.path for f in _client().list_logged_model_artifacts(logged["torch_model"].model_id, "data")}
    assert "data/model.pt2" in data, "pt2 (torch.export) loads without sigattn or pickle"
    files = {f.path for f in _client().list_logged_model_artifacts(logged["model"].model_id, "artifacts")}
    assert files == {"artifacts/best.pt"}, "the served model carries the checkpoint"
    assert elapsed < 30


def test_model_that_cannot_be_exported_is_a_sigattn_error(local_store: Path):
    class DataDependent(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(-1) if x.sum() > 0 else -x.mean(-1)  # branches on data: torch.export refuses

    _, checkpoint, x = _model_and_checkpoint(local_store)
    with tracked_run(LOCAL, run_name="r") as tracker:
        with pytest.raises(SigattnError, match="could not log the model"):
            tracker.log_model(DataDependent(), checkpoint, x)
        with pytest.raises(SigattnError, match=r"\(N, C, L\)"):
            tracker.log_model(DataDependent(), checkpoint, x[0])


def test_resolve_checkpoint_from_every_kind_of_reference(local_store: Path):
    _, checkpoint, _ = _model_and_checkpoint(local_store)
    with tracked_run(LOCAL, run_name="train") as tracker:
        tracker.log_file(checkpoint, "checkpoints")
        tracker.log_metrics({"val/acc": 0.9}, step=1)
    with tracked_run(LOCAL, run_name="no-checkpoint") as empty:
        pass
    client = _client()
    client.create_registered_model("bearing-cnn")
    client.create_model_version("bearing-cnn", f"runs:/{tracker.run_id}/checkpoints", run_id=tracker.run_id)
    refs = [
        tracker.run_id,
        f"runs:/{tracker.run_id}",
        f"runs:/{tracker.run_id}/model",
        f"runs:/{tracker.run_id}/checkpoints/best.pt",
        "models:/bearing-cnn/1",
    ]
    for ref in refs:
        local = resolve_checkpoint(ref, dst_dir=local_store / "dl")
        assert local.read_bytes() == checkpoint.read_bytes(), ref
        assert source_run_id(ref) == tracker.run_id
    assert resolve_checkpoint(str(checkpoint)) == checkpoint and source_run_id(str(checkpoint)) is None
    for ref, match in [
        ("f" * 32, "not found"),
        (empty.run_id, "has no artifact checkpoints/best.pt"),
        ("models:/nope/1", "model 'models:/nope/1' not found"),
        ("missing.pt", "does not exist"),
        ("yesterday's model", "expected a checkpoint file"),
    ]:
        with pytest.raises(SigattnError, match=match):
            resolve_checkpoint(ref)
    info = run_info(tracker.run_id)
    assert info["status"] == "FINISHED" and info["metrics"]["val/acc"] == 0.9 and info["run_name"] == "train"
    with tracked_run(LOCAL, run_name="eval") as evaluation:
        link_evaluation(evaluation, tracker.run_id)
    assert run_info(evaluation.run_id)["tags"][SOURCE_RUN_TAG] == tracker.run_id


def test_lookups_without_a_store_say_where_to_point(local_store: Path):
    with pytest.raises(SigattnError, match="no mlflow.db here"):
        resolve_checkpoint("a" * 32)
    assert not (local_store / "mlflow.db").exists()


def test_team_mode_logs_to_a_tracking_server(mlflow_server: str, local_store: Path):
    model, checkpoint, x = _model_and_checkpoint(local_store)
    team = SimpleNamespace(uri=mlflow_server, experiment="team", run_name="shared-run")
    with tracked_run(team, run_name="ignored") as tracker:
        tracker.log_config({"model": {"backbone": "cnn"}})
        for epoch in range(2):
            tracker.log_metrics({"val/acc": 0.5 + 0.1 * epoch}, step=epoch)
        tracker.log_file(checkpoint, "checkpoints")
        tracker.log_model(model, checkpoint, x)
    assert tracker.url == f"{mlflow_server}/#/experiments/{tracker.experiment_id}/runs/{tracker.run_id}"
    client = MlflowClient(mlflow_server)
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "shared-run"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert [m.step for m in client.get_metric_history(tracker.run_id, "val/acc")] == [0, 1]
    assert run.data.params["model.backbone"] == "cnn"
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    predicted = _predict_pyfunc(f"runs:/{tracker.run_id}/torch_model", mlflow_server, x)
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)
    assert len(_predict_pyfunc(f"runs:/{tracker.run_id}/model", mlflow_server, x)) == len(x)
    local = resolve_checkpoint(tracker.run_id, tracking_uri=mlflow_server, dst_dir=local_store / "dl")
    assert local.read_bytes() == checkpoint.read_bytes()
    assert not (local_store / "mlflow.db").exists() and not (local_store / "mlruns").exists()
