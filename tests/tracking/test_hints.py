"""view_hint: how to open a run in the MLflow UI, for each kind of store."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from sigattn.tracking import MlflowTracker, view_hint
from sigattn.tracking.store import default_tracking_uri

RUN_ID = "0123456789abcdef0123456789abcdef"
PAGE = f"http://127.0.0.1:5000/#/experiments/7/runs/{RUN_ID}"


def tracker_on(uri: str) -> MlflowTracker:
    info = SimpleNamespace(run_id=RUN_ID, experiment_id="7", run_name="r", artifact_uri="mlruns/7")
    return MlflowTracker(None, info, uri)  # type: ignore[arg-type]


def test_local_default_store_says_run_mlflow_ui_in_this_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    hint = view_hint(tracker_on(default_tracking_uri()))
    assert hint == f"view it: run `mlflow ui` in {tmp_path}, then open {PAGE}"


@pytest.mark.parametrize(
    ("uri", "command"),
    [
        ("sqlite:////data/runs/other.db", "mlflow ui --backend-store-uri sqlite:////data/runs/other.db"),
        ("sqlite:////my runs/mlflow.db", "mlflow ui --backend-store-uri 'sqlite:////my runs/mlflow.db'"),
        ("postgresql://db.lab/mlflow", "mlflow ui --backend-store-uri postgresql://db.lab/mlflow"),
    ],
)
def test_another_database_names_it_as_the_backend_store(uri: str, command: str):
    assert view_hint(tracker_on(uri)) == f"view it: run `{command}`, then open {PAGE}"


def test_tracking_server_gives_its_own_run_page():
    hint = view_hint(tracker_on("https://mlflow.lab.org/"))
    assert hint == f"view it: open https://mlflow.lab.org/#/experiments/7/runs/{RUN_ID}"
