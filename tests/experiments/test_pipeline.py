"""Pipelines: expansion, validation, and `sigattn run` end to end with resume and --jobs."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from sigattn.cli import app
from sigattn.errors import SigattnError
from sigattn.experiments.pipeline import load_pipeline

runner = CliRunner()
BASE = {
    "data": {
        "dataset": "synthetic",
        "synthetic": {"n_per_class": 3, "seconds": 1.0},
        "window": {"length": 256, "stride": 128},
    },
    "model": {"widths": [8, 8, 8, 8]},
    "train": {"epochs": 1, "quiet": True},
    "tracking": {"experiment": "pipe", "overlays_per_class": 0},
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    torch.set_num_threads(1)
    return tmp_path


def write(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def client() -> MlflowClient:
    return MlflowClient("sqlite:///" + Path("mlflow.db").resolve().as_posix())


def runs_of(experiment: str = "pipe") -> list:
    return client().search_runs([client().get_experiment_by_name(experiment).experiment_id])


def test_expansion_is_grid_product_in_order_times_cells(workdir: Path):
    spec = {
        "name": "expand",
        "base": "base.yaml",
        "set": ["train.epochs=2"],
        "grid": {"model.block": ["se", "eca"], "train.seed": [0, 1]},
        "cells": [{"label": "A", "data.synthetic.seed": 1}, {"label": "B", "data.synthetic.seed": 2}],
    }
    pipeline = load_pipeline(write(workdir / "p.yaml", spec), overrides=["model.dropout=0.1"])
    keys = [c.key for c in pipeline.cells]
    assert len(keys) == 8
    assert keys[:3] == [
        "A:model.block=se,train.seed=0,data.synthetic.seed=1",
        "B:model.block=se,train.seed=0,data.synthetic.seed=2",
        "A:model.block=se,train.seed=1,data.synthetic.seed=1",
    ]
    last = pipeline.cells[-1]
    assert last.label == "B" and last.config.model.block == "eca" and last.config.train.seed == 1
    assert last.config.data.synthetic.seed == 2 and last.config.train.epochs == 2 and last.config.model.dropout == 0.1
    assert last.group == "B:model.block=eca" and last.title == "B:model.block=eca,train.seed=1"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"grid": {"model.block": ["se", "transformer"]}}, "model.block=transformer"),
        ({"grid": {"train.epoch": [1]}}, "unknown config key train.epoch"),
        ({"grid": {"model.block": []}}, "grid.model.block must be a non-empty list"),
        ({"grid": {"block": ["se"]}}, "'block' is not a config key"),
        ({"cells": [{"label": "x", "data.loads": [9]}]}, "data.loads"),
        ({"cells": [{"label": 3}]}, "cells[1].label"),
        ({"set": ["train.epochs=0"]}, "train.epochs must be a positive integer"),
        ({"base": "nope.yaml"}, "nope.yaml not found"),
        ({"grid": {"data.split.groups": [{"train": ["a"], "test": ["a"]}]}}, "in both"),
        ({"name": "has space"}, "name must be"),
        ({"grids": {}}, "unknown key 'grids'"),
        ({"ensemble": "yes"}, "ensemble must be true or false"),
    ],
)
def test_validation_errors_name_the_file_and_key(workdir: Path, spec: dict, message: str):
    path = write(workdir / "bad.yaml", {"name": "bad", "base": "base.yaml", **spec})
    with pytest.raises(SigattnError, match="bad.yaml") as error:
        load_pipeline(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_run_resume_and_rerun_of_a_failed_cell(workdir: Path):
    spec = {"name": "blocks", "base": "base.yaml", "grid": {"model.block": ["none", "se"], "train.seed": [0, 1]}}
    write(workdir / "blocks.yaml", spec)
    dry = runner.invoke(app, ["run", "blocks.yaml", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "model.block=se,train.seed=1" in dry.output and "4 cells" in dry.output
    assert not (workdir / "mlflow.db").exists(), "a dry run creates no runs"

    first = runner.invoke(app, ["run", "blocks.yaml", "-q"])
    assert first.exit_code == 0, first.output
    runs = runs_of()
    (parent,) = [r for r in runs if r.data.tags.get("sigattn.kind") == "pipeline"]
    assert parent.info.run_name == "blocks" and f"pipeline run {parent.info.run_id}" in first.output
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}
    assert {c.info.run_name for c in children} >= {"synthetic-4c/se/seed1", "synthetic-4c/none/seed0"}
    assert "latency_ms_cpu" in children[0].data.metrics and "test_accuracy" in children[0].data.metrics
    rows = list(csv.DictReader((workdir / "results/blocks/summary.csv").open()))
    assert [r["cell"] for r in rows] == ["model.block=none", "model.block=se"]
    assert all(r["runs"] == "2" and float(r["accuracy_std"]) >= 0 and int(r["params"]) > 0 for r in rows)
    assert "| model.block=se | 2 |" in (workdir / "results/blocks/summary.md").read_text()
    logged = {a.path for a in client().list_artifacts(parent.info.run_id, "summary")}
    assert {"summary/summary.md", "summary/summary.csv", "summary/summary.json"} <= logged

    again = runner.invoke(app, ["run", "blocks.yaml", "-q"])
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped (finished earlier)") == 4 and len(runs_of()) == 5

    broken = next(c for c in children if c.data.tags["sigattn.cell"] == "model.block=se,train.seed=0")
    client().set_terminated(broken.info.run_id, "FAILED")
    third = runner.invoke(app, ["run", "blocks.yaml", "-q"])
    assert third.exit_code == 0, third.output
    assert third.output.count("skipped (finished earlier)") == 3
    runs = runs_of()
    assert len(runs) == 6 and sum(r.data.tags.get("sigattn.kind") == "pipeline" for r in runs) == 1
    new = [
        r
        for r in runs
        if r.info.run_id not in {c.info.run_id for c in children} and r.info.run_id != parent.info.run_id
    ]
    assert len(new) == 1 and new[0].data.tags["sigattn.cell"] == "model.block=se,train.seed=0"
    assert new[0].data.tags["mlflow.parentRunId"] == parent.info.run_id and new[0].info.status == "FINISHED"


def test_jobs_auto_runs_one_cell_per_core_in_worker_processes(workdir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sigattn.experiments.jobs.usable_cores", lambda: 4)  # 4 cores, 2 cells: 2 workers
    spec = {"name": "par", "base": "base.yaml", "grid": {"train.seed": [0, 1]}, "set": ["model.block=eca"]}
    write(workdir / "par.yaml", spec)
    result = runner.invoke(app, ["run", "par.yaml", "--jobs", "auto", "--out", "summ"])
    assert result.exit_code == 0, result.output
    assert "2 cell(s) at a time, 2 thread(s) each (--jobs auto: 4 cores, " in result.output
    runs = runs_of()
    (parent,) = [r for r in runs if r.data.tags.get("sigattn.kind") == "pipeline"]
    assert parent.data.tags["sigattn.jobs"].startswith("2 x 2 threads (--jobs auto: 4 cores, ")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(c.data.tags["sigattn.cell"] for c in children) == ["train.seed=0", "train.seed=1"]
    assert {c.info.status for c in children} == {"FINISHED"}
    rows = list(csv.DictReader((workdir / "summ/summary.csv").open()))
    assert len(rows) == 1 and rows[0]["cell"] == "base" and rows[0]["runs"] == "2"


# In each worker process: wait until every worker is about to log its dataset, then let all go at
# once (a slow wait for the others, then a short busy one so that all leave within a scheduler tick).
LOG_DATASET_TOGETHER = """
import os, time
from pathlib import Path
from sigattn.tracking.tracker import MlflowTracker

_log_dataset = MlflowTracker.log_dataset

def _meet(phase, pause):
    folder, n = Path(os.environ["BARRIER_DIR"]), int(os.environ["BARRIER_N"])
    (folder / f"{phase}-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while len(list(folder.glob(f"{phase}-*"))) < n and time.monotonic() < deadline:
        time.sleep(pause)

def _together(self, *args, **kwargs):
    _meet("ready", 0.01)
    _meet("go", 0)
    return _log_dataset(self, *args, **kwargs)

MlflowTracker.log_dataset = _together
"""


def test_jobs_four_cells_logging_their_dataset_together_all_finish(workdir: Path, monkeypatch: pytest.MonkeyPatch):
    hooks, barrier = workdir / "hooks", workdir / "barrier"
    hooks.mkdir()
    barrier.mkdir()
    (hooks / "sitecustomize.py").write_text(LOG_DATASET_TOGETHER)  # runs first in each spawned worker
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("BARRIER_DIR", str(barrier))
    monkeypatch.setenv("BARRIER_N", "4")
    spec = {"name": "par4", "base": "base.yaml", "grid": {"train.seed": [0, 1, 2, 3]}, "set": ["model.block=none"]}
    write(workdir / "par4.yaml", spec)
    result = runner.invoke(app, ["run", "par4.yaml", "--jobs", "4", "--out", "summ"])
    assert result.exit_code == 0 and "FAILED" not in result.output, result.output
    assert len(list(barrier.glob("go-*"))) == 4, "every worker met at the barrier"
    children = [r for r in runs_of() if r.data.tags.get("sigattn.kind") == "pipeline-cell"]
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}
    digests = [d.dataset.digest for c in children for d in c.inputs.dataset_inputs]
    assert len(digests) == 4 and len(set(digests)) == 1, "every cell records the one dataset"
    rows = list(csv.DictReader((workdir / "summ/summary.csv").open()))
    assert rows[0]["runs"] == "4"


def test_cli_errors_are_one_line(workdir: Path):
    write(workdir / "bad.yaml", {"name": "bad", "base": "base.yaml", "grid": {"model.block": ["xx"]}})
    result = runner.invoke(app, ["run", "bad.yaml", "--dry-run"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "bad.yaml" in result.output and "model.block" in result.output
    assert runner.invoke(app, ["run", "bad.yaml", "--jobs", "0"]).exit_code == 2


def test_shipped_pipelines_validate_with_their_baselines():
    root = Path(__file__).resolve().parents[2] / "pipelines"
    # blocks x seeds (x cells) + baselines x seeds (x cells)
    sizes = {
        "quickstart-blocks": 12,
        "cwru-10class": 18 + 6,
        "cwru-cross-load": 108 + 36,
        "cwru-fault-size": 54 + 18,
        "mitdb-interpatient": 18 + 6,
        "mitdb-ds1-cv": 6 * 4 + 4,
    }
    for name, n in sizes.items():
        assert len(load_pipeline(root / f"{name}.yaml").cells) == n, name
    fault_size = load_pipeline(root / "cwru-fault-size.yaml")
    assert fault_size.cells[0].config.data.split.segment_groups == ("97",)
    wdcnn = next(c for c in fault_size.cells if c.baseline == "wdcnn")
    assert wdcnn.config.model.backbone == "wdcnn" and wdcnn.config.model.block == "none"
    plain = {c.label: c.config for c in fault_size.cells if c.grid.get("model.block") == "none"}
    first_layer = {"kernels": [63, 7, 5, 3], "kernel_dropout": 0.2}  # chosen per fold on validation
    assert [plain[f].model.options for f in ("test-007", "test-014", "test-021")] == [first_layer, {}, {}]
    augment = [plain[f].train.augment for f in ("test-007", "test-014", "test-021")]
    assert [(a.stretch, a.equalizer_db) for a in augment] == [(0.0, 0.0), (0.04, 6.0), (0.04, 6.0)]
    steps = {f: [t["name"] for t in c.data.transforms] for f, c in plain.items()}
    assert steps == {"test-007": ["normalize"], "test-014": ["whiten", "normalize"], "test-021": ["normalize"]}
    assert wdcnn.config.model.options == {}, "the WDCNN preset keeps its own first layer"
    cross_load = load_pipeline(root / "cwru-cross-load.yaml").cells
    bands = {c.label for c in cross_load if c.baseline is None and c.config.model.options == {"head_pooled": 8}}
    assert bands == {"1hp-to-2hp", "3hp-to-2hp"}, "chosen per target load on validation"
    assert all(c.config.model.options == {} for c in cross_load if c.baseline == "wdcnn")
    cv = load_pipeline(root / "mitdb-ds1-cv.yaml").cells
    assert all(c.config.train.report_split == "val" for c in cv), "cross-validation never scores DS2"
    chosen = next(c for c in cv if c.grid.get("variant") == "v5-logit-adjusted").config
    final = load_pipeline(root / "mitdb-interpatient.yaml").cells[0].config
    for section in ("data", "train"):  # the final pipeline runs the chosen variant, scored on test
        got, want = getattr(final, section).to_dict(), getattr(chosen, section).to_dict()
        assert {k: v for k, v in got.items() if k not in ("split", "report_split")} == {
            k: v for k, v in want.items() if k not in ("split", "report_split")
        }, section
    assert final.train.report_split == "test" and final.data.split.fold == 0


def test_fault_size_fold_keeps_fault_bearings_out_of_training(real_data_dir: Path, tmp_path: Path, monkeypatch):
    from sigattn.data.prepare import prepare

    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    path = Path(__file__).resolve().parents[2] / "pipelines/cwru-fault-size.yaml"
    cell = load_pipeline(path, overrides=[f"data.data_dir={real_data_dir}"]).cells[0]
    assert cell.label == "test-007"
    prepared = prepare(cell.config.data)
    assert prepared.classes == ("Normal", "IR", "B", "OR") and prepared.audit.ok
    test_faults = {g for g in prepared.splits["test"].groups.tolist() if g != "97"}
    assert test_faults == {"105", "106", "107", "108", "118", "119", "120", "121", "130", "131", "132", "133"}
    for split in ("train", "val"):
        assert not test_faults & set(prepared.splits[split].groups.tolist())
    for w in prepared.splits.values():  # Normal (97.mat, segments) is in every split
        assert min(w.class_counts().values()) > 0


def test_baselines_and_grid_narrowing(workdir: Path):
    spec = {
        "name": "base",
        "base": "base.yaml",
        "grid": {"model.block": ["none", "se"], "train.seed": [0, 1, 2]},
        "cells": [{"label": "A"}, {"label": "B", "data.synthetic.seed": 3, "model.options": {"kernel_dropout": 0.2}}],
        "baselines": ["wdcnn", "minirocket"],
    }
    path = write(workdir / "b.yaml", spec)
    full = load_pipeline(path)
    assert len(full.cells) == (2 * 3 + 2 * 3) * 2
    b_cells = [c.config.model for c in full.cells if c.label == "B"]
    assert {m.backbone: m.options for m in b_cells} == {"cnn": {"kernel_dropout": 0.2}, "wdcnn": {}}  # the preset wins
    narrow = load_pipeline(path, only={"train.seed": [1]})
    assert {c.key for c in narrow.cells} < {c.key for c in full.cells} and len(narrow.cells) == 8
    rocket = [c for c in narrow.cells if c.baseline == "minirocket"]
    assert [c.key for c in rocket] == [
        "A:baseline=minirocket,train.seed=1",
        'B:baseline=minirocket,train.seed=1,data.synthetic.seed=3,model.options={"kernel_dropout":0.2}',
    ]
    assert rocket[0].group == "A:baseline=minirocket" and rocket[1].config.data.synthetic.seed == 3
    with pytest.raises(SigattnError, match="--grid model.width: not a grid key"):
        load_pipeline(path, only={"model.width": [1]})
    write(workdir / "bad.yaml", {**spec, "baselines": ["resnet"]})
    with pytest.raises(SigattnError, match="baselines must be a list of wdcnn, minirocket"):
        load_pipeline(workdir / "bad.yaml")
    dry = runner.invoke(app, ["run", "b.yaml", "--dry-run", "--grid", "train.seed=[1]", "--grid", "model.block=[se]"])
    assert dry.exit_code == 0 and "6 cells" in dry.output, dry.output
    bad = runner.invoke(app, ["run", "b.yaml", "--dry-run", "--grid", "train.seed"])
    assert bad.exit_code == 1 and "--grid 'train.seed' must look like" in bad.output


def test_grid_baseline_picks_the_baselines_and_empty_picks_none(workdir: Path):
    spec = {
        "name": "base",
        "base": "base.yaml",
        "grid": {"model.block": ["none", "se"], "train.seed": [0, 1]},
        "baselines": ["wdcnn", "minirocket"],
    }
    path = write(workdir / "b.yaml", spec)
    full = load_pipeline(path)
    models = load_pipeline(path, only={"baseline": [], "model.block": ["se"]})
    assert [c.key for c in models.cells] == ["model.block=se,train.seed=0", "model.block=se,train.seed=1"]
    rocket = load_pipeline(path, only={"baseline": ["minirocket"]})
    assert {c.baseline for c in rocket.cells} == {None, "minirocket"} and len(rocket.cells) == 4 + 2
    assert {c.key: c.digest for c in rocket.cells}.items() <= {c.key: c.digest for c in full.cells}.items()
    with pytest.raises(SigattnError, match=r"--grid baseline: expected a list of baseline names of wdcnn, minirocket"):
        load_pipeline(path, only={"baseline": ["resnet"]})
    write(workdir / "plain.yaml", {k: v for k, v in spec.items() if k != "baselines"})
    with pytest.raises(SigattnError, match=r"the pipeline has none"):
        load_pipeline(workdir / "plain.yaml", only={"baseline": ["wdcnn"]})
    dry = runner.invoke(app, ["run", "b.yaml", "--dry-run", "--grid", "model.block=[se]", "--grid", "baseline=[]"])
    assert dry.exit_code == 0 and "2 cells" in dry.output, dry.output


def test_minirocket_and_wdcnn_baselines_run_as_child_runs_with_pooled_rows(workdir: Path):
    pytest.importorskip("aeon", reason="the minirocket baseline needs the baselines extra (aeon)")
    spec = {
        "name": "rocket",
        "base": "base.yaml",
        "set": ["data.window.length=1024", "data.window.stride=512", "data.synthetic.seconds=2.0"],
        "grid": {"model.block": ["none"], "train.seed": [0]},
        "cells": [{"label": "A"}, {"label": "B", "data.synthetic.seed": 3}],
        "baselines": ["wdcnn", "minirocket"],
    }
    write(workdir / "r.yaml", spec)
    result = runner.invoke(app, ["run", "r.yaml", "-q"])
    assert result.exit_code == 0, result.output
    children = [r for r in runs_of() if r.data.tags.get("sigattn.kind") == "pipeline-cell"]
    rockets = [r for r in children if r.data.tags.get("sigattn.baseline") == "minirocket"]
    assert len(children) == 6 and len(rockets) == 2
    assert rockets[0].data.tags["backbone"] == "minirocket" and "test_macro_f1" in rockets[0].data.metrics
    assert 0 <= rockets[0].data.metrics["test_accuracy"] <= 1 and rockets[0].data.metrics["params"] > 0
    assert {r.info.run_name for r in rockets} == {"synthetic-4c/minirocket/seed0/A", "synthetic-4c/minirocket/seed0/B"}
    wd = [r for r in children if r.data.tags.get("sigattn.baseline") == "wdcnn"]
    assert {r.data.tags["backbone"] for r in wd} == {"wdcnn"}
    rows = {r["cell"]: r for r in csv.DictReader((workdir / "results/rocket/summary.csv").open())}
    assert rows["all 2 cells:baseline=minirocket"]["runs"] == "2"
    assert rows["A:baseline=wdcnn"]["runs"] == "1" and "all 2 cells:model.block=none" in rows
    assert (
        0 <= float(rows["A:baseline=minirocket"]["f1_Normal"]) <= 1 and "f1_Normal_std" in rows["A:baseline=minirocket"]
    )
    assert "| cell | f1_B | f1_IR | f1_Normal | f1_OR |" in (workdir / "results/rocket/summary.md").read_text()


def test_cross_load_cell_prepares_nine_fault_classes(real_data_dir: Path, tmp_path: Path, monkeypatch):
    from sigattn.data.prepare import prepare

    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    path = Path(__file__).resolve().parents[2] / "pipelines/cwru-cross-load.yaml"
    cell = load_pipeline(path, overrides=[f"data.data_dir={real_data_dir}"]).cells[0]
    assert cell.label == "1hp-to-2hp"
    prepared = prepare(cell.config.data)
    assert len(prepared.classes) == 9 and "Normal" not in prepared.classes and prepared.audit.ok
    loads = {"train": "1", "val": "3", "test": "2"}
    for split, w in prepared.splits.items():
        assert {str(int(g) - 105) for g in set(w.groups.tolist()) if int(g) < 110} == {loads[split]}
        assert set(w.class_counts()) == set(prepared.classes) and min(w.class_counts().values()) > 0


def test_ensemble_rows_score_the_mean_of_the_seeds(workdir: Path):
    """`ensemble: true`: each cell's finished seeds scored once more as one model, in rows of their own."""
    spec = {"name": "ens", "base": "base.yaml", "grid": {"train.seed": [0, 1]},
            "cells": [{"label": "A"}, {"label": "B", "data.synthetic.seed": 3}], "ensemble": True}  # fmt: skip
    write(workdir / "ens.yaml", spec)
    one_seed = runner.invoke(app, ["run", "ens.yaml", "-q", "--grid", "train.seed=[0]"])
    assert one_seed.exit_code == 0, one_seed.output
    assert "ensemble" not in (workdir / "results/ens/summary.md").read_text()  # one seed is no ensemble

    both = runner.invoke(app, ["run", "ens.yaml", "-q"])
    assert both.exit_code == 0, both.output
    assert "scoring each cell's seeds as one model" in both.output
    rows = {r["cell"]: r for r in csv.DictReader((workdir / "results/ens/summary.csv").open())}
    assert rows["A ensemble of seeds"]["runs"] == "1" and rows["all 2 cells:base ensemble of seeds"]["runs"] == "2"
    assert rows["A"]["runs"] == "2"  # the plain rows are unchanged

    runs_a = [r.info.run_id for r in runs_of() if r.info.run_name.endswith("/A")]
    evaluated = runner.invoke(app, ["eval", *runs_a, "--no-log", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    expected = json.loads(evaluated.stdout)
    assert float(rows["A ensemble of seeds"]["macro_f1"]) == pytest.approx(expected["macro_f1"])
    assert float(rows["A ensemble of seeds"]["accuracy"]) == pytest.approx(expected["accuracy"])

    text = (workdir / "results/ens/summary.md").read_text()
    assert "| cell | ensemble | members' mean |" in text and "| A ensemble of seeds | 1 | " in text
    assert "nan" not in text  # an ensemble has no latency of its own
