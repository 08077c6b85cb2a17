"""Run a pipeline: every cell as a child MLflow run of one parent run, then the summary.

`run_pipeline` opens one parent run, trains every cell (`sigattn.experiments.cells`) as a child
run exactly like `sigattn train`, skips cells that finished in an earlier run of the same
pipeline, and writes a summary over seeds (mean ± std) as Markdown and CSV. MLflow is reached
only through `sigattn.tracking`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigattn.config import load_config
from sigattn.errors import SigattnError
from sigattn.experiments.cells import BASELINE_TAG, CELL_TAG, KIND_TAG, Cell, load_pipeline
from sigattn.experiments.summary import METRICS, PER_CLASS, summarize, to_csv, to_markdown


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
    from sigattn.config import run_name
    from sigattn.data.prepare import prepare
    from sigattn.experiments.run import train_and_report
    from sigattn.models.checkpoint import model_from_checkpoint
    from sigattn.models.costs import count_parameters, median_seconds

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
                from sigattn.experiments.baselines import fit_minirocket

                tracker.log_config(cfg.to_dict())
                tracker.set_tags({"dataset": cfg.data.dataset, "block": "-", "backbone": "minirocket"})
                test = fit_minirocket(cfg, prepared, tracker)
                costs = {k: float(test[k]) for k in ("params", "latency_ms_cpu")}
            else:
                result = train_and_report(cfg, prepared, tracker, progress=progress)
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
    from sigattn.outputs import write_atomically

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
