"""Several processes sharing one folder's store: first runs at once, one dataset at once, a stuck lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from filelock import FileLock
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sigattn.errors import SigattnError
from sigattn.tracking import MlflowTracker, tracked_run
from sigattn.tracking.locks import store_lock
from sigattn.tracking.store import default_tracking_uri

PROCESSES = 4
ROUNDS = 3
# Each child waits at barrier `wait(step)` until the parent has seen every child there (ready-<step>-<me>).
CHILD = """
import sys, time
from pathlib import Path
from types import SimpleNamespace
from sigattn.tracking import tracked_run

me, rounds = sys.argv[1], int(sys.argv[2])

def wait(step):
    Path(f"ready-{step}-{me}").touch()
    while not Path(f"go-{step}").exists():
        time.sleep(0.001)

wait("start")  # every process builds the store at once
with tracked_run(SimpleNamespace(uri=None, experiment="shared", run_name=None), run_name=me) as tracker:
    for step in range(rounds):  # every process registers the same dataset at once
        wait(step)
        tracker.log_dataset(f"synthetic-{step}", "3f2a9c1d", {"windows": 120}, "training")
    tracker.log_metrics({"loss": 0.5}, step=0)
"""


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
    return tmp_path


def _run_together(folder: Path, rounds: int) -> list[subprocess.CompletedProcess]:
    """Start PROCESSES children of CHILD in `folder` and release them together at every barrier."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(i), str(rounds)],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ,
        )
        for i in range(PROCESSES)
    ]
    try:
        for step in ["start", *range(rounds)]:
            deadline = time.monotonic() + 120
            while len(list(folder.glob(f"ready-{step}-*"))) < PROCESSES:
                if time.monotonic() > deadline or any(c.poll() is not None for c in children):
                    break  # a child failed before the barrier: its output says why
                time.sleep(0.01)
            (folder / f"go-{step}").touch()
        outputs = [c.communicate(timeout=120)[0] for c in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    return [subprocess.CompletedProcess(c.args, c.returncode, out) for c, out in zip(children, outputs, strict=True)]


def _assert_all_succeeded(results: list[subprocess.CompletedProcess]) -> None:
    failures = [r.stdout[-1500:] for r in results if r.returncode != 0]
    assert not failures, failures


def test_first_runs_at_once_in_a_new_folder_share_one_store_and_one_dataset(folder: Path):
    """Building a new store and registering one dataset are check-then-write steps in MLflow."""
    _assert_all_succeeded(_run_together(folder, rounds=ROUNDS))
    with tracked_run(SimpleNamespace(uri=None, experiment="shared", run_name=None), run_name="later") as tracker:
        tracker.log_dataset("synthetic-0", "3f2a9c1d", {"windows": 120}, "training")
    client = MlflowClient(default_tracking_uri())
    runs = client.search_runs([tracker.experiment_id])
    assert len(runs) == PROCESSES + 1 and {r.info.status for r in runs} == {"FINISHED"}
    assert len(client.search_experiments()) == 2, "one 'shared' experiment (and MLflow's Default)"
    for run in (r for r in runs if r.info.run_name != "later"):
        names = sorted(d.dataset.name for d in run.inputs.dataset_inputs)
        assert names == [f"synthetic-{step}" for step in range(ROUNDS)]


def test_a_held_store_lock_fails_in_one_line_naming_the_lock_file(folder: Path):
    uri = default_tracking_uri()
    with FileLock(str(folder / "mlflow.db.lock")), pytest.raises(SigattnError) as error, store_lock(uri, 0.2):
        pass
    message = str(error.value)
    assert "busy" in message and str(folder / "mlflow.db.lock") in message and "\n" not in message
    with store_lock(uri, timeout=0.2):  # released: free again
        pass


class _CollidingClient:
    """A store (e.g. behind a server) where another run inserted the same dataset first."""

    def __init__(self) -> None:
        self.calls = 0

    def log_inputs(self, run_id: str, datasets: list) -> None:
        self.calls += 1
        if self.calls == 1:
            raise MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.name")


def test_dataset_logging_tries_again_after_losing_the_race_on_a_server():
    client = _CollidingClient()
    info = SimpleNamespace(run_id="a" * 32, experiment_id="1", run_name="r", artifact_uri="mlflow-artifacts:/1")
    tracker = MlflowTracker(client, info, "http://127.0.0.1:5000")  # type: ignore[arg-type]
    tracker.log_dataset("synthetic", "3f2a9c1d", {"windows": 120}, "training")
    assert client.calls == 2
