"""Declarative experiment pipelines: a grid of run configs, trained as nested MLflow runs.

A pipeline YAML names a `base` run config (a path relative to the pipeline file, or an inline
mapping), `set` overrides for every cell, a `grid` of config keys to lists of values (expanded
as a cartesian product in the order given) and optional `cells` (explicit override mappings,
each with an optional `label`), crossed with the grid, and optional `baselines` (`wdcnn`, the
WDCNN preset, and `minirocket`, MiniRocket + ridge) crossed with the seeds and the cells, on the
same split and windows. `run_pipeline` opens one parent run,
trains every cell as a child run exactly like `sigattn train`, skips cells that finished in an
earlier run of the same pipeline, and writes a summary over seeds (mean ± std) as Markdown and
CSV. MLflow is reached only through `sigattn.tracking`.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigattn.config import RunConfig, load_config, read_yaml
from sigattn.errors import SigattnError
from sigattn.summary import METRICS, PER_CLASS, summarize, to_csv, to_markdown

CELL_TAG = "sigattn.cell"
KIND_TAG = "sigattn.kind"
BASELINE_TAG = "sigattn.baseline"
SEED_KEY = "train.seed"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_TOP_KEYS = ("name", "base", "set", "grid", "cells", "baselines")
BASELINE_KEY = "baseline"
# What a baseline cell changes in the base config; minirocket is fitted by sigattn.baselines.
BASELINE_SETS: dict[str, tuple[str, ...]] = {
    "wdcnn": ("model.backbone=wdcnn", "model.block=none", "model.widths=null", "model.options={}"),
    "minirocket": (),
}


@dataclass(frozen=True)
class Cell:
    """One run of the pipeline: grid values and the cell's own overrides (config key -> value),
    an optional label, and the validated config."""

    grid: dict[str, Any]
    extra: dict[str, Any]
    label: str | None
    config: RunConfig

    @property
    def overrides(self) -> dict[str, Any]:
        return {**self.grid, **self.extra}

    @property
    def key(self) -> str:
        """Stable identity across runs of the pipeline (the `sigattn.cell` tag): label + every override."""
        return _describe(self.overrides, self.label)

    @property
    def baseline(self) -> str | None:
        """ "wdcnn" or "minirocket" for a baseline cell, else None."""
        return self.grid.get(BASELINE_KEY)

    @property
    def title(self) -> str:
        """Short name: the label stands for the cell's own overrides."""
        return _describe(self.grid, self.label) if self.label else self.key or "base"

    @property
    def model(self) -> str:
        """What the cell trains, without seed and label: the row pooling it over labelled cells."""
        return _describe({k: v for k, v in self.grid.items() if k != SEED_KEY}, None) or "base"

    @property
    def group(self) -> str:
        """The cell without its seed: the row of the summary it counts towards."""
        rest = self.grid if self.label else self.overrides
        return _describe({k: v for k, v in rest.items() if k != SEED_KEY}, self.label) or "base"


@dataclass(frozen=True)
class Pipeline:
    name: str
    path: Path
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class CellOutcome:
    """`status`: "finished", "skipped" (finished earlier) or "failed" (`error` says why)."""

    cell: Cell
    status: str
    run_id: str | None = None
    run_name: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class PipelineResult:
    name: str
    parent_run_id: str
    outcomes: list[CellOutcome]
    rows: list[dict[str, Any]]
    markdown: str
    out_dir: Path

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _describe(overrides: Mapping[str, Any], label: str | None) -> str:
    text = ",".join(f"{k}={_value_text(v)}" for k, v in overrides.items())
    return f"{label}:{text}" if label and text else label or text


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value)}"  # JSON is YAML: load_config parses it back unchanged


def _check_key(where: str, key: Any) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise SigattnError(f"{where}: {key!r} is not a config key like model.block or train.seed")
    return key


def load_pipeline(
    path: Path | str,
    *,
    overrides: Sequence[str] = (),
    tracking_uri: str | None = None,
    only: Mapping[str, Sequence[Any]] | None = None,
) -> Pipeline:
    """Read, expand and validate a pipeline: every cell's config is built before anything runs.

    `only` narrows grid axes to the given values (e.g. {"train.seed": [0]}): a subset of the
    cells, with the same keys, so a later full run skips what the narrow one finished."""
    path = Path(path)
    spec = read_yaml(path, "pipeline file")
    if not isinstance(spec, dict):
        raise SigattnError(f"pipeline {path} must be a mapping with keys {', '.join(_TOP_KEYS)}")
    unknown = sorted(set(spec) - set(_TOP_KEYS))
    if unknown:
        raise SigattnError(f"pipeline {path}: unknown key {unknown[0]!r}; allowed: {', '.join(_TOP_KEYS)}")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SigattnError(f"pipeline {path}: name must be letters, digits, '.', '_' or '-'; got {name!r}")
    base = spec.get("base")
    if isinstance(base, str):
        base = path.parent / base
        if not base.is_file():
            raise SigattnError(f"pipeline {path}: base config {base} not found")
    elif base is not None and not isinstance(base, dict):
        raise SigattnError(f"pipeline {path}: base must be a run config path or mapping; got {base!r}")
    sets = spec.get("set") or []
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
        raise SigattnError(f"pipeline {path}: set must be a list of key=value strings; got {sets!r}")
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict):
        raise SigattnError(f"pipeline {path}: grid must map config keys to lists of values; got {grid!r}")
    for key, values in grid.items():
        _check_key(f"pipeline {path}: grid", key)
        if not isinstance(values, list) or not values:
            raise SigattnError(f"pipeline {path}: grid.{key} must be a non-empty list of values; got {values!r}")
    for key, values in (only or {}).items():
        if key not in grid:
            raise SigattnError(f"--grid {key}: not a grid key of pipeline {path}; its grid keys: {', '.join(grid)}")
        if not isinstance(values, list) or not values:
            raise SigattnError(f"--grid {key}: expected a non-empty list of values like [0, 1]; got {values!r}")
        grid = {**grid, key: values}
    baselines = spec.get("baselines") or []
    if not isinstance(baselines, list) or any(b not in BASELINE_SETS for b in baselines):
        names = ", ".join(BASELINE_SETS)
        raise SigattnError(f"pipeline {path}: baselines must be a list of {names}; got {baselines!r}")
    cells = spec.get("cells") or [{}]
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise SigattnError(f"pipeline {path}: cells must be a list of mappings of config keys to values")
    for i, c in enumerate(cells, 1):
        label = c.get("label")
        if label is not None and (not isinstance(label, str) or not label):
            raise SigattnError(f"pipeline {path}: cells[{i}].label must be a non-empty string; got {label!r}")
        for key in c:
            if key != "label":
                _check_key(f"pipeline {path}: cells[{i}]", key)
    tail = [*([f"tracking.uri={tracking_uri}"] if tracking_uri else []), *overrides]  # these win
    axes = [(dict(zip(grid, combo, strict=True)), ()) for combo in itertools.product(*grid.values())]
    seeds = grid.get(SEED_KEY, [None])
    for b in baselines:
        axes += [({BASELINE_KEY: b, **({} if s is None else {SEED_KEY: s})}, BASELINE_SETS[b]) for s in seeds]
    out: list[Cell] = []
    for values, preset in axes:
        for c in cells:
            own, label = {k: v for k, v in c.items() if k != "label"}, c.get("label")
            chosen = [_override(k, v) for k, v in {**values, **own}.items() if k != BASELINE_KEY]
            try:
                cfg = load_config(base, [*sets, *preset, *chosen, *tail])
            except SigattnError as error:
                title = _describe(values, label) if label else _describe({**values, **own}, None) or "base"
                raise SigattnError(f"pipeline {path}: cell {title}: {error}") from None
            out.append(Cell(values, own, label, cfg))
    keys = [c.key for c in out]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise SigattnError(f"pipeline {path}: cell {dupes[0]!r} appears twice; give cells distinct labels or values")
    trackings = {(c.config.tracking.uri, c.config.tracking.experiment) for c in out}
    if len(trackings) > 1:
        raise SigattnError(f"pipeline {path}: all cells must share tracking.uri and tracking.experiment")
    return Pipeline(name, path, tuple(out))


def run_cell(
    config: dict[str, Any],
    key: str,
    label: str | None,
    parent_run_id: str,
    baseline: str | None,
    threads: int,
    progress: bool,
) -> dict[str, Any]:
    """Train one cell as a child run (also the worker of `jobs > 1`); returns a CellOutcome's fields."""
    import torch

    from sigattn import tracking
    from sigattn.checkpoint import model_from_checkpoint
    from sigattn.config import run_name
    from sigattn.costs import count_parameters, median_seconds
    from sigattn.data.prepare import prepare
    from sigattn.training import fit

    if threads:
        torch.set_num_threads(threads)
    cfg = load_config(config)
    tracker = None
    try:
        prepared = prepare(cfg.data)
        model = "minirocket" if baseline == "minirocket" else None
        name = run_name(cfg, len(prepared.classes), model=model) + (f"/{label}" if label else "")
        tags = {CELL_TAG: key, KIND_TAG: "pipeline-cell", **({BASELINE_TAG: baseline} if baseline else {})}
        with tracking.tracked_run(cfg.tracking, run_name=name, parent_run_id=parent_run_id, tags=tags) as tracker:
            if baseline == "minirocket":
                from sigattn.baselines import fit_minirocket

                tracker.log_config(cfg.to_dict())
                tracker.set_tags({"dataset": cfg.data.dataset, "block": "-", "backbone": "minirocket"})
                test = fit_minirocket(cfg, prepared, tracker)
                costs = {k: float(test[k]) for k in ("params", "latency_ms_cpu")}
            else:
                result = fit(cfg, prepared, tracker, progress=progress)
                test = result.test_metrics
                net, _ = model_from_checkpoint(result.best_checkpoint)
                x = torch.zeros((1, *prepared.splits["test"].x.shape[1:]))
                with torch.inference_mode():
                    seconds = median_seconds(lambda: net(x), min_run_time=0.2)  # Timer: one thread
                costs = {"params": float(count_parameters(net)), "latency_ms_cpu": seconds * 1e3}
                tracker.log_metrics(costs, step=len(result.history))
    except Exception as error:  # reported per cell; the pipeline goes on with the others
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        message = text if isinstance(error, SigattnError) else f"{type(error).__name__}: {text}"
        return {"status": "failed", "run_id": getattr(tracker, "run_id", None), "error": message}
    metrics = {m: float(test[m]) for m in METRICS} | costs
    return {"status": "finished", "run_id": tracker.run_id, "run_name": tracker.run_name, "metrics": metrics}


def run_pipeline(
    path: Path | str,
    *,
    jobs: int = 1,
    tracking_uri: str | None = None,
    overrides: Sequence[str] = (),
    progress: bool = False,
    out_dir: Path | str | None = None,
    only: Mapping[str, Sequence[Any]] | None = None,
    on_event: Callable[[str, Any], None] | None = None,
) -> PipelineResult:
    """Run every cell of the pipeline not finished earlier, nested under one parent run.

    `on_event(kind, value)` hears "parent" (the parent run id), then "cell" (a CellOutcome) as
    each cell ends. Writes summary.md and summary.csv to `out_dir` (default results/<name>/)
    and logs them to the parent run.
    """
    from sigattn import tracking
    from sigattn.inference import write_atomically

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SigattnError(f"jobs must be a positive integer; got {jobs!r}")
    pipeline = load_pipeline(path, overrides=overrides, tracking_uri=tracking_uri, only=only)
    notify = on_event or (lambda kind, value: None)
    settings = pipeline.cells[0].config.tracking
    out = Path(out_dir) if out_dir is not None else Path("results") / pipeline.name
    previous = tracking.latest_tagged_run(settings, pipeline.name, KIND_TAG, "pipeline")
    outcomes: list[CellOutcome] = []
    tags = {KIND_TAG: "pipeline", "sigattn.pipeline_file": str(pipeline.path)}
    with tracking.tracked_run(settings, run_name=pipeline.name, resume_run_id=previous, tags=tags) as parent:
        notify("parent", parent.run_id)
        done = {
            c["tags"].get(CELL_TAG) for c in tracking.child_runs(settings, parent.run_id) if c["status"] == "FINISHED"
        }
        todo = []
        for cell in pipeline.cells:
            if cell.key in done:
                outcomes.append(CellOutcome(cell, "skipped"))
                notify("cell", outcomes[-1])
            else:
                todo.append(cell)
        args = [(c.config.to_dict(), c.key, c.label, parent.run_id, c.baseline) for c in todo]
        if jobs == 1 or len(todo) <= 1:
            for cell, a in zip(todo, args, strict=True):
                outcomes.append(CellOutcome(cell, **run_cell(*a, threads=0, progress=progress)))
                notify("cell", outcomes[-1])
        else:
            threads = max(1, (os.cpu_count() or 1) // jobs)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = {pool.submit(run_cell, *a, threads, False): cell for cell, a in zip(todo, args, strict=True)}
                for future in as_completed(futures):
                    outcomes.append(CellOutcome(futures[future], **future.result()))
                    notify("cell", outcomes[-1])
        finished: dict[str, dict[str, float]] = {}
        for child in tracking.child_runs(settings, parent.run_id):  # oldest first: the latest run wins
            if child["status"] == "FINISHED" and CELL_TAG in child["tags"]:
                m = child["metrics"]
                finished[child["tags"][CELL_TAG]] = {
                    **{k: m[f"test_{k}"] for k in METRICS if f"test_{k}" in m},
                    **{k: m[k] for k in ("params", "latency_ms_cpu") if k in m},
                    **{k[5:]: v for k, v in m.items() if k.startswith(tuple(f"test_{p}" for p in PER_CLASS))},
                }
        rows = summarize(pipeline.cells, finished)
        markdown = to_markdown(pipeline.name, rows)
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(out / "summary.md", markdown)
        write_atomically(out / "summary.csv", to_csv(rows))
        parent.log_file(out / "summary.md", "summary")
        parent.log_file(out / "summary.csv", "summary")
        parent.log_dict({"rows": rows}, "summary/summary.json")
        failed = sum(o.status == "failed" for o in outcomes)
        parent.set_tags({"sigattn.cells": str(len(pipeline.cells)), "sigattn.failed_cells": str(failed)})
    order = {c.key: i for i, c in enumerate(pipeline.cells)}
    outcomes.sort(key=lambda o: order[o.cell.key])
    return PipelineResult(pipeline.name, parent.run_id, outcomes, rows, markdown, out)
