"""Run a pipeline: every cell as a child MLflow run of one parent run, then the summary.

`run_pipeline` opens one parent run, trains every cell (`sigattn.experiments.cells`) as a child
run exactly like `sigattn train`, skips a cell only when a finished run of the same pipeline has
its digest (its fully resolved config), and writes a summary over seeds (mean ± std) of the runs
of the current digests as Markdown and CSV. MLflow is reached only through `sigattn.tracking`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigattn.errors import SigattnError
from sigattn.evaluate.adapt import ADAPTED_PREFIX
from sigattn.experiments.cell_run import measure_costs, run_cell
from sigattn.experiments.cells import CELL_TAG, DIGEST_TAG, KIND_TAG, Cell, Pipeline, load_pipeline
from sigattn.experiments.jobs import plan_jobs
from sigattn.experiments.summary import METRICS, PER_CLASS, per_record_csv, summarize, to_csv, to_markdown
from sigattn.experiments.workers import run_in_workers


@dataclass(frozen=True)
class CellOutcome:
    """`status`: "finished", "skipped" (finished earlier with the same digest), "failed" (`error` says
    why) or "killed" (stopped by Ctrl-C or SIGTERM)."""

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
    interrupted: bool = False

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


class PipelineInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the pipeline; `result` holds the summary of what finished."""

    def __init__(self, result: PipelineResult) -> None:
        super().__init__()
        self.result = result


def _finished_digests(settings: Any, parent_run_id: str | None) -> dict[str, set[str]]:
    """Cell key -> digests of its FINISHED child runs under `parent_run_id`."""
    from sigattn import tracking

    done: dict[str, set[str]] = {}
    for child in tracking.child_runs(settings, parent_run_id) if parent_run_id else []:
        if child["status"] == "FINISHED" and CELL_TAG in child["tags"]:
            done.setdefault(child["tags"][CELL_TAG], set()).add(child["tags"].get(DIGEST_TAG, ""))
    return done


def _state(cell: Cell, done: dict[str, set[str]]) -> str:
    if cell.digest in done.get(cell.key, ()):
        return "finished"
    return "changed" if cell.key in done else "new"


def cell_states(pipeline: Pipeline) -> dict[str, str]:
    """Cell key -> "finished" (a finished run has its digest: a rerun skips it), "changed" (finished
    runs exist, none with its current config) or "new". Creates no store that is not there yet."""
    from sigattn import tracking

    settings = pipeline.cells[0].config.tracking
    uri = tracking.resolve_tracking_uri(settings.uri)
    if uri == tracking.default_tracking_uri() and not Path("mlflow.db").is_file():
        return {cell.key: "new" for cell in pipeline.cells}
    previous = tracking.latest_tagged_run(settings, pipeline.name, KIND_TAG, "pipeline")
    done = _finished_digests(settings, previous)
    return {cell.key: _state(cell, done) for cell in pipeline.cells}


def _job(cell: Cell, parent_run_id: str) -> tuple:
    """The arguments of `run_cell` for `cell`: plain data, so a worker process can receive them."""
    return cell.config.to_dict(), cell.key, cell.digest, cell.label, parent_run_id, cell.baseline


def latest_finished(pipeline: Pipeline, settings: Any, parent_run_id: str) -> dict[str, dict[str, Any]]:
    """Cell key -> the latest FINISHED child run whose digest is the cell's current one."""
    from sigattn import tracking

    current = {cell.key: cell for cell in pipeline.cells}
    latest: dict[str, dict[str, Any]] = {}
    for child in tracking.child_runs(settings, parent_run_id):  # oldest first: the latest run wins
        key, tags = child["tags"].get(CELL_TAG), child["tags"]
        if child["status"] == "FINISHED" and key in current and tags.get(DIGEST_TAG) == current[key].digest:
            latest[key] = child
    return latest


def _summary_rows(pipeline: Pipeline, latest: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary rows from `latest` (cell key -> its latest finished child run, `latest_finished`)."""
    current = {cell.key: cell for cell in pipeline.cells}
    finished: dict[str, dict[str, float]] = {}
    adapted: dict[str, dict[str, float]] = {}
    for key, child in latest.items():
        m, head = child["metrics"], f"{current[key].config.train.report_prefix}_"  # test_, or val_best_
        costs = {k: m[k] for k in ("params", "latency_ms_cpu", "val_saturated") if k in m}
        finished[key] = {**_scores(m, head), **costs}
        if f"{head}{ADAPTED_PREFIX}_accuracy" in m:
            adapted[key] = {**_scores(m, f"{head}{ADAPTED_PREFIX}_"), **costs}
    return summarize(pipeline.cells, finished, adapted)


def _scores(metrics: dict[str, float], head: str) -> dict[str, float]:
    """The summary's scores of one run from its logged metrics named `<head><metric>`."""
    return {
        **{k: metrics[head + k] for k in METRICS if head + k in metrics},
        **{k.removeprefix(head): v for k, v in metrics.items() if k.startswith(tuple(head + p for p in PER_CLASS))},
    }


def run_pipeline(
    path: Path | str,
    *,
    jobs: int | str = 1,
    threads: int | None = None,
    tracking_uri: str | None = None,
    overrides: Sequence[str] = (),
    progress: bool = False,
    out_dir: Path | str | None = None,
    only: Mapping[str, Sequence[Any]] | None = None,
    on_event: Callable[[str, Any], None] | None = None,
) -> PipelineResult:
    """Run every cell whose config has no finished run yet, nested under one parent run.

    With `jobs` > 1 (or "auto": `sigattn.experiments.jobs`) the CNN cells train in worker processes
    (`sigattn.experiments.workers`) with `threads` intra-op threads each (default: cores // jobs), and
    the MiniRocket cells after them in this process. Then each new CNN's CPU cost is measured here, one
    at a time. `on_event(kind, value)` hears "parent" (the parent run id), "jobs" (the JobPlan), then
    "cell" (a CellOutcome) as each cell ends, and "ensembles" before seed ensembles are scored. Writes
    summary.md and summary.csv to `out_dir` (default results/<name>/) and logs them to the parent run,
    also after Ctrl-C or SIGTERM, which then raise PipelineInterrupted.
    """
    from sigattn import tracking
    from sigattn.outputs import write_atomically

    if jobs != "auto" and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise SigattnError(f"jobs must be a positive integer or auto; got {jobs!r}")
    pipeline = load_pipeline(path, overrides=overrides, tracking_uri=tracking_uri, only=only)
    notify = on_event or (lambda kind, value: None)
    settings = pipeline.cells[0].config.tracking
    out = Path(out_dir) if out_dir is not None else Path("results") / pipeline.name
    previous = tracking.latest_tagged_run(settings, pipeline.name, KIND_TAG, "pipeline")
    outcomes: list[CellOutcome] = []
    tags = {KIND_TAG: "pipeline", "sigattn.pipeline_file": str(pipeline.path)}
    with tracking.tracked_run(settings, run_name=pipeline.name, resume_run_id=previous, tags=tags) as parent:
        notify("parent", parent.run_id)
        done = _finished_digests(settings, parent.run_id)
        todo = []
        for cell in pipeline.cells:
            if _state(cell, done) == "finished":
                outcomes.append(CellOutcome(cell, "skipped"))
                notify("cell", outcomes[-1])
            else:
                todo.append(cell)
        plan = plan_jobs(jobs, sum(c.baseline != "minirocket" for c in todo), threads=threads)
        notify("jobs", plan)
        in_workers = [c for c in todo if plan.jobs > 1 and c.baseline != "minirocket"]
        here = [c for c in todo if c not in in_workers]
        costs: dict[str, tuple[str, int]] = {}  # run id -> (best checkpoint, step) of new CNNs

        def record(cell: Cell, result: dict[str, Any]) -> None:
            checkpoint, step = result.pop("checkpoint", None), result.pop("step", 0)
            if result.get("worker_died") and result.get("run_id"):
                tracking.fail_run(settings, result["run_id"], result["error"])
            result.pop("worker_died", None)
            outcomes.append(CellOutcome(cell, **result))
            if checkpoint is not None:
                costs[result["run_id"]] = (checkpoint, step)
            notify("cell", outcomes[-1])

        interrupted = False
        try:
            if in_workers:
                tasks = [_job(c, parent.run_id) for c in in_workers]
                run_in_workers(
                    run_cell, tasks, jobs=plan.jobs, threads=plan.threads,
                    on_done=lambda i, r: record(in_workers[i], r),
                )  # fmt: skip
            for cell in here:
                record(cell, run_cell(*_job(cell, parent.run_id), progress=progress))
                if outcomes[-1].status == "killed":
                    raise KeyboardInterrupt
            for run_id, (checkpoint, step) in costs.items():
                tracking.log_run_metrics(settings, run_id, measure_costs(checkpoint), step)
        except KeyboardInterrupt:
            interrupted = True
        latest = latest_finished(pipeline, settings, parent.run_id)
        rows = _summary_rows(pipeline, latest)
        if pipeline.ensemble and not interrupted:
            from sigattn.experiments.ensembles import ensemble_rows

            notify("ensembles", None)
            rows += ensemble_rows(pipeline.cells, latest, settings.uri)
        markdown = to_markdown(pipeline.name, rows, pipeline.cells[0].config.train.report_split)
        out.mkdir(parents=True, exist_ok=True)
        tables = {"summary.md": markdown, "summary.csv": to_csv(rows)}
        if any(r["per_record"] for r in rows):
            tables["per_record.csv"] = per_record_csv(rows)
        for file, text in tables.items():
            write_atomically(out / file, text)
            parent.log_file(out / file, "summary")
        parent.log_dict({"rows": rows}, "summary/summary.json")
        failed = sum(o.status == "failed" for o in outcomes)
        parent.set_tags({"sigattn.cells": str(len(pipeline.cells)), "sigattn.failed_cells": str(failed),
                         "sigattn.jobs": f"{plan.jobs} x {plan.threads} threads ({plan.reason})"})  # fmt: skip
        order = {c.key: i for i, c in enumerate(pipeline.cells)}
        outcomes.sort(key=lambda o: order[o.cell.key])
        result = PipelineResult(pipeline.name, parent.run_id, outcomes, rows, markdown, out, interrupted)
        if interrupted:
            raise PipelineInterrupted(result)  # the parent run ends KILLED
    return result
