"""Ablation variants in pipelines, and `train.report_split: val` for model selection without the test split."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from sigattn.cli import app
from sigattn.config import load_config
from sigattn.data.prepare import Prepared
from sigattn.data.splits import AuditResult
from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.experiments import run
from sigattn.experiments.pipeline import load_pipeline
from sigattn.experiments.run import train_and_report
from sigattn.train import loop

pytestmark = pytest.mark.usefixtures("one_thread")
runner = CliRunner()
BASE = {
    "data": {
        "dataset": "synthetic",
        "synthetic": {"n_per_class": 3, "seconds": 1.0},
        "window": {"length": 256, "stride": 128},
    },
    "model": {"widths": [8, 8, 8, 8]},
    "train": {"epochs": 1, "quiet": True},
    "tracking": {"experiment": "variants", "overlays_per_class": 0},
}
SPEC = {
    "name": "ablate",
    "base": BASE,
    "variants": {"plain": {}, "wide": {"model.widths": [8, 8, 8, 16], "train.epochs": 2}},
    "grid": {"train.seed": [0, 1]},
    "cells": [{"label": "fold-0"}, {"label": "fold-1", "data.synthetic.seed": 1}],
}


def _write(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_variants_are_one_more_axis_pooled_over_labelled_cells(tmp_path: Path):
    pipeline = load_pipeline(_write(tmp_path / "p.yaml", SPEC))
    assert len(pipeline.cells) == 2 * 2 * 2
    wide = [c for c in pipeline.cells if c.grid.get("variant") == "wide"]
    assert [c.key for c in wide][:2] == [
        "fold-0:variant=wide,train.seed=0",
        "fold-1:variant=wide,train.seed=0,data.synthetic.seed=1",
    ]
    assert all(c.config.model.widths == (8, 8, 8, 16) and c.config.train.epochs == 2 for c in wide)
    assert {c.model for c in wide} == {"variant=wide"}, "a variant is one summary row over folds and seeds"
    plain = next(c for c in pipeline.cells if c.grid.get("variant") == "plain")
    assert plain.config.train.epochs == 1 and plain.digest != wide[0].digest
    narrow = load_pipeline(tmp_path / "p.yaml", only={"variant": ["wide"]})
    assert {c.key for c in narrow.cells} == {c.key for c in wide}


@pytest.mark.parametrize(
    ("variants", "only", "message"),
    [
        ([{"a": 1}], None, "variants must map names to mappings"),
        ({"bad name": {}}, None, "variant names must be letters"),
        ({"a": ["train.epochs=2"]}, None, "variants.a must map config keys to values"),
        ({"a": {"epochs": 2}}, None, "variants.a: 'epochs' is not a config key"),
        ({"a": {"train.epochs": 0}}, None, "cell fold-0:variant=a,train.seed=0: .*train.epochs"),
        ({"a": {}}, {"variant": ["b"]}, "--grid variant: expected a list of variant names of a"),
        (None, {"variant": ["a"]}, "--grid variant: pipeline .* has no variants"),
    ],
)
def test_bad_variants_are_one_line_errors(tmp_path: Path, variants, only, message: str):
    spec = {**SPEC, "variants": variants}
    with pytest.raises(SigattnError, match=message):
        load_pipeline(_write(tmp_path / "p.yaml", spec), only=only)


def test_grid_cell_runs_only_the_labelled_cells_it_names(tmp_path: Path):
    path = _write(tmp_path / "p.yaml", SPEC)
    narrow = load_pipeline(path, only={"cell": ["fold-1"], "variant": ["plain"]})
    assert [c.key for c in narrow.cells] == [
        "fold-1:variant=plain,train.seed=0,data.synthetic.seed=1",
        "fold-1:variant=plain,train.seed=1,data.synthetic.seed=1",
    ]
    full = {c.key: c.digest for c in load_pipeline(path).cells}
    assert all(full[c.key] == c.digest for c in narrow.cells), "a later full run skips what the narrow one finished"
    with pytest.raises(
        SigattnError, match=r"--grid cell: expected a list of cell labels of fold-0, fold-1; got \['f'\]"
    ):
        load_pipeline(path, only={"cell": ["f"]})
    with pytest.raises(SigattnError, match="--grid cell: pipeline .* has no labelled cells"):
        load_pipeline(_write(tmp_path / "q.yaml", {**SPEC, "cells": [{}]}), only={"cell": ["fold-0"]})


def _windows(n: int, seed: int) -> Windows:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = (rng.normal(size=(n, 1, 256)) + y[:, None, None]).astype(np.float32)
    group = np.array([f"g{seed}"] * n)
    return Windows(x, y, ("Normal", "IR"), group, group, np.arange(n) * 64, 12000.0)


def test_report_split_val_scores_val_and_never_scores_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = load_config(None, ["model.widths=[8, 8, 8, 8]", "train.epochs=2", "train.device=cpu", "train.quiet=true",
                             "train.report_split=val", f"train.checkpoint_dir={tmp_path}"])  # fmt: skip
    splits = {"train": _windows(32, 0), "val": _windows(16, 1), "test": _windows(24, 2)}
    prepared = Prepared(splits, ("Normal", "IR"), 12000.0, AuditResult(True, "segment"), cfg.data, 256)
    seen: list[int] = []
    for module, name in ((run, "evaluate"), (loop, "evaluate"), (run, "attention_report"), (run, "score_windows")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda m, w, *a, _real=real, **k: seen.append(id(w)) or _real(m, w, *a, **k))
    result = train_and_report(cfg, prepared, progress=False)
    assert result.test_metrics["n"] == 16, "the reported scores are the val split's"
    assert id(splits["val"]) in seen and id(splits["test"]) not in seen, "the test split was scored"
    assert cfg.train.report_prefix == "val_best" and load_config(None).train.report_prefix == "test"


def test_a_cross_validation_pipeline_logs_and_summarises_val_scores_only(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    spec = {**SPEC, "set": ["train.report_split=val"], "grid": {"train.seed": [0]}}
    _write(tmp_path / "cv.yaml", spec)
    out = runner.invoke(app, ["run", "cv.yaml", "--grid", "variant=[plain]"])  # one variant, two folds
    assert out.exit_code == 0, out.output
    client = MlflowClient("sqlite:///" + (tmp_path / "mlflow.db").as_posix())
    experiment = client.get_experiment_by_name("variants").experiment_id
    cells = [r for r in client.search_runs([experiment]) if r.data.tags.get("sigattn.kind") == "pipeline-cell"]
    assert len(cells) == 2
    for cell in cells:
        assert "val_best_macro_f1" in cell.data.metrics
        assert not [k for k in cell.data.metrics if k.startswith("test_")], "the test split was scored"
        assert {a.path for a in client.list_artifacts(cell.info.run_id, "reports")} == {"reports/val_report.json"}
    rows = list(csv.DictReader((tmp_path / "results" / "ablate" / "summary.csv").open()))
    by_cell = {r["cell"]: r for r in rows}
    assert (
        float(by_cell["all 2 cells:variant=plain"]["macro_f1"]) >= 0.0
        and by_cell["all 2 cells:variant=plain"]["runs"] == "2"
    )
