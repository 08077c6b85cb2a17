"""Data-parallel training: `torchrun --nproc_per_node=2 -m sigattn train` on CPU (gloo) makes one run."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import torch
from mlflow.tracking import MlflowClient

from sigattn.models.checkpoint import load_checkpoint
from sigattn.train import distributed
from sigattn.train.distributed import Ranks

TINY = [
    "data.synthetic.n_per_class=3",
    "data.synthetic.seconds=1.0",
    "data.window.length=256",
    "data.window.stride=128",
    "model.widths=[8,8,8,8]",
    "train.batch_size=32",
    "tracking.overlays_per_class=0",
]


def test_one_process_is_rank_zero_of_one(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.current() == Ranks() and Ranks().main and not Ranks().active
    with distributed.process_group("cpu") as ranks:
        assert ranks == Ranks()
    cpu = torch.device("cpu")
    assert distributed.all_sum([1.5, 2.0], cpu) == [1.5, 2.0] and distributed.from_main([3.0], cpu) == [3.0]
    assert distributed.backend_for("cpu") == "gloo"
    assert Ranks(rank=1, world=2).active and not Ranks(rank=1, world=2).main


def test_torchrun_two_processes_make_one_run_and_one_set_of_checkpoints(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(SIGATTN_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1", MLFLOW_DISABLE_TELEMETRY="true")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    command += ["-m", "sigattn", "train", "--offline", "--quiet", "--device", "cpu", "--epochs", "2"]
    command += [f"--set={s}" for s in TINY]
    out = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    (run_id,) = re.findall(r"^run ([0-9a-f]{32}) ", out.stdout, re.MULTILINE)  # rank 0 alone reports
    assert out.stderr.count("offline: logging to the local store") == 1

    client = MlflowClient("sqlite:///" + (tmp_path / "mlflow.db").as_posix())
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(experiments)
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    params = run.data.params
    assert params["resolved.world_size"] == "2" and params["resolved.data_path"] == "device"
    assert run.data.tags["data_path"] == "device"
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [0, 1]
    assert 0.0 <= run.data.metrics["test_accuracy"] <= 1.0 and math.isfinite(run.data.metrics["test_loss"])

    folders = list((tmp_path / "checkpoints").iterdir())
    assert [f.name for f in folders] == [run_id]
    assert sorted(p.name for p in folders[0].iterdir()) == ["best.pt", "last.pt"]
    last = load_checkpoint(folders[0] / "last.pt")
    assert last["epoch"] == 1 and all(math.isfinite(h["train_loss"]) for h in last["history"])
    assert not any(Path(tmp_path).glob("**/*.tmp")), "no checkpoint half-written by a second rank"
