"""`mlflow models serve` on a freshly trained model answers like `sigattn predict`, and a bad request with a 400."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from sigattn.config import load_config
from sigattn.data.prepare import prepare
from sigattn.evaluate.files import predict_files
from sigattn.models.checkpoint import model_from_checkpoint
from sigattn.tracking import tracked_run
from sigattn.train.loop import fit

pytestmark = pytest.mark.usefixtures("one_thread")
MLFLOW = str(Path(sys.executable).parent / "mlflow")
TINY = [
    "data.synthetic.n_per_class=3",
    "data.synthetic.seconds=1.0",
    "data.window.length=256",
    "data.window.stride=128",
    'data.transforms=[{"name": "bandpass", "low": 50, "high": 4000}, {"name": "normalize"}]',
    "model.widths=[8,8,8,8]",
    "model.block=se",
    "train.epochs=1",
    "train.quiet=true",
    "tracking.experiment=serve",
    "tracking.overlays_per_class=0",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_for_ping(url: str, process: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {process.returncode}: {log.read_text()[-1500:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ping", timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer /ping within {seconds:.0f} s: {log.read_text()[-1500:]}")


def _stop(process: subprocess.Popen) -> None:
    """The server and its uvicorn workers: their whole process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def test_served_model_answers_class_names_and_probabilities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    try:
        subprocess.run([MLFLOW, "--version"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"the mlflow command line cannot start here: {error}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path / 'ckpt'}"])
    prepared = prepare(cfg.data)
    with tracked_run(cfg.tracking, run_name="serve-me") as tracker:  # what train_and_report logs, minus its report
        best = fit(cfg, prepared, tracker, progress=False).best_checkpoint
        model, meta = model_from_checkpoint(best)
        tracker.log_model(model, best, prepared.splits["test"].x[:2])

    x = np.random.default_rng(0).standard_normal((2, 1, 256)).astype(np.float32) * 3 + 1  # raw, not z-scored
    files = [str(tmp_path / f"w{i}.npy") for i in range(len(x))]
    for path, window in zip(files, x, strict=True):
        np.save(path, window)
    expected = predict_files(model, meta, files, fs=meta.fs).rows

    port, log = _free_port(), tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=tracker.tracking_uri, MLFLOW_DISABLE_TELEMETRY="true")
    env["PATH"] = f"{Path(MLFLOW).parent}{os.pathsep}{env.get('PATH', '')}"  # the server execs uvicorn by name
    command = [MLFLOW, "models", "serve", "-m", f"runs:/{tracker.run_id}/model", "--env-manager", "local"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_ping(url, process, log)
        status, body = _post(f"{url}/invocations", {"inputs": {"x": x.tolist()}})
        assert status == 200, body
        rows = body["predictions"]
        assert [row["label"] for row in rows] == [row["predicted"] for row in expected]
        for row, want in zip(rows, expected, strict=True):
            assert set(row) == {"label", *(f"p_{c}" for c in meta.classes)}
            for c in meta.classes:
                assert row[f"p_{c}"] == pytest.approx(want[f"p_{c}"], abs=1e-5)

        status, body = _post(f"{url}/invocations", {"inputs": {"x": x[:, :, :100].tolist()}})
        assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", body
        reason = "x (raw windows) must have shape (N, 1, 256); got (2, 1, 100)"
        assert body["message"].splitlines()[-1] == f"Error: {reason}", body["message"][-300:]
        assert "Traceback" not in json.dumps(body)
    finally:
        _stop(process)
