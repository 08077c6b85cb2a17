"""Pipelines never report a result they did not compute: digests, interrupts, dead workers, honest latency."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from sigattn.cli import app

runner = CliRunner()
BASE = {
    "data": {"dataset": "synthetic", "synthetic": {"n_per_class": 3, "seconds": 1.0},
             "window": {"length": 256, "stride": 128}},
    "model": {"widths": [8, 8, 8, 8], "block": "none"},
    "train": {"epochs": 1, "quiet": True},
    "tracking": {"experiment": "pipe", "overlays_per_class": 0},
}  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    return tmp_path


def write(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def children() -> list:
    client = MlflowClient("sqlite:///" + Path("mlflow.db").resolve().as_posix())
    runs = client.search_runs([client.get_experiment_by_name("pipe").experiment_id])
    return [r for r in runs if r.data.tags.get("sigattn.kind") == "pipeline-cell"]


def test_a_changed_base_config_retrains_and_the_summary_uses_only_current_runs(workdir: Path):
    write(workdir / "p.yaml", {"name": "p", "base": "base.yaml", "grid": {"train.seed": [0, 1]}})
    dry = runner.invoke(app, ["run", "p.yaml", "--dry-run"])
    assert dry.exit_code == 0 and dry.output.count(" new ") == 2 and "(0 finished, 0 changed, 2 new)" in dry.output
    assert runner.invoke(app, ["run", "p.yaml", "-q"]).exit_code == 0
    assert "(2 finished, 0 changed, 0 new)" in runner.invoke(app, ["run", "p.yaml", "--dry-run"]).output

    (workdir / "base.yaml").write_text(yaml.safe_dump({**BASE, "train": {"epochs": 2, "quiet": True}}))
    dry = runner.invoke(app, ["run", "p.yaml", "--dry-run"])
    assert "(0 finished, 2 changed, 0 new)" in dry.output and "changed   train.seed=0" in dry.output
    again = runner.invoke(app, ["run", "p.yaml", "-q"])
    assert again.exit_code == 0 and "skipped" not in again.output, again.output
    runs = children()
    digests = {(r.data.tags["sigattn.cell"], r.data.tags["sigattn.cell_digest"]) for r in runs}
    assert len(runs) == 4 and len(digests) == 4, "each cell has an old and a new digest"
    new = {r.info.run_id for r in runs if r.data.params.get("train.epochs") == "2"}
    assert len(new) == 2
    rows = list(csv.DictReader((workdir / "results/p/summary.csv").open()))
    accuracy = [r.data.metrics["test_accuracy"] for r in runs if r.info.run_id in new]
    assert rows[0]["runs"] == "2" and float(rows[0]["accuracy"]) == pytest.approx(sum(accuracy) / 2)

    set_changes = runner.invoke(app, ["run", "p.yaml", "--dry-run", "--set", "train.lr=0.01"])
    assert "(0 finished, 2 changed, 0 new)" in set_changes.output, "--set is part of a cell's identity"


# A sitecustomize hook run first in every Python process of the test: `fit` acts on the cell
# whose seed is HOOK_SEED: "term-parent" sends SIGTERM to the pipeline process, "die" kills its
# own worker with SIGKILL (as the kernel's OOM killer would), "term-self" stops its own process.
HOOK = """
import os, signal, time
import sigattn.train.loop as loop

_fit = loop.fit

def fit(cfg, *args, **kwargs):
    if cfg.train.seed == int(os.environ["HOOK_SEED"]):
        action = os.environ["HOOK_ACTION"]
        if action == "term-parent":
            os.kill(os.getppid(), signal.SIGTERM)
            time.sleep(60)
        elif action == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "term-self":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(60)
    return _fit(cfg, *args, **kwargs)

loop.fit = fit
"""


def run_with_hook(workdir: Path, seed: int, action: str, *args: str) -> subprocess.CompletedProcess:
    hooks = workdir / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(HOOK)
    env = {**os.environ, "HOOK_SEED": str(seed), "HOOK_ACTION": action, "PYTHONPATH": str(hooks)}
    env = {k: v for k, v in env.items() if not k.startswith("MLFLOW_TRACKING")}
    command = [sys.executable, "-m", "sigattn", "run", "p.yaml", "-q", *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_stops_the_grid_kills_running_cells_and_writes_the_summary(workdir: Path, jobs: str):
    write(workdir / "p.yaml", {"name": "p", "base": "base.yaml", "grid": {"train.seed": [0, 1, 2, 3]}})
    action = "term-self" if jobs == "1" else "term-parent"
    done = run_with_hook(workdir, 1, action, "--jobs", jobs)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "interrupted: rerun" in done.stderr
    status = {r.data.tags["sigattn.cell"]: r.info.status for r in children()}
    assert status["train.seed=1"] == "KILLED" and "train.seed=3" not in status, status
    assert "RUNNING" not in status.values()
    assert (workdir / "results/p/summary.md").is_file() and "summary.md and summary.csv" in done.stdout
    rows = list(csv.DictReader((workdir / "results/p/summary.csv").open()))
    assert int(rows[0]["runs"]) == sum(s == "FINISHED" for s in status.values())


def test_a_dead_worker_fails_its_own_cell_and_the_others_finish(workdir: Path):
    write(workdir / "p.yaml", {"name": "p", "base": "base.yaml", "grid": {"train.seed": [0, 1, 2]}})
    done = run_with_hook(workdir, 1, "die", "--jobs", "2")
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert "train.seed=1: FAILED: its worker process was killed by SIGKILL" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "Error: 1 of 3 cells failed; rerun to retry them"
    status = {r.data.tags["sigattn.cell"]: r.info.status for r in children()}
    assert status == {"train.seed=0": "FINISHED", "train.seed=1": "FAILED", "train.seed=2": "FINISHED"}


def test_latency_is_measured_in_the_main_process_after_every_cell_ended(workdir: Path, monkeypatch):
    import sigattn.experiments.pipeline as pipeline

    write(workdir / "p.yaml", {"name": "p", "base": "base.yaml", "grid": {"train.seed": [0, 1]}})
    measure, seen = pipeline.measure_costs, []

    def recording(checkpoint):
        seen.append({r.info.status for r in children()})
        return measure(checkpoint)

    monkeypatch.setattr(pipeline, "measure_costs", recording)
    assert runner.invoke(app, ["run", "p.yaml", "-q", "--jobs", "2"]).exit_code == 0
    assert seen == [{"FINISHED"}, {"FINISHED"}], "one model at a time, once every cell has ended"
    assert all(r.data.metrics["latency_ms_cpu"] > 0 and r.data.metrics["params"] > 0 for r in children())
