"""`tracked_run`: open one MLflow run, yield its tracker, and always end it; later changes to ended runs.

The run ends FINISHED, FAILED (exception) or KILLED (KeyboardInterrupt); never RUNNING.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow.entities import Metric, RunStatus
from mlflow.tracking import MlflowClient

from sigattn.errors import SigattnError
from sigattn.tracking.store import (
    DEFAULT_EXPERIMENT,
    SOURCE_RUN_TAG,
    check_store,
    first_line,
    get_run,
    global_tracking_uri,
    open_experiment,
    open_store,
    resolve_tracking_uri,
)
from sigattn.tracking.tracker import MlflowTracker


@contextmanager
def tracked_run(
    tracking: Any = None,
    *,
    run_name: str,
    resume_run_id: str | None = None,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    offline: bool = False,
) -> Iterator[MlflowTracker]:
    """Open one MLflow run and yield its tracker; end it FINISHED, FAILED or KILLED.

    `tracking` has `uri`, `experiment` and `run_name` (a TrackingConfig; None uses the defaults);
    its `run_name`, when set, wins over `run_name`. `resume_run_id` reopens that run so steps
    continue in it; `parent_run_id` (or an enclosing tracked_run) makes this a nested child run.
    `offline` logs to the local default store whatever the URI. Raises SigattnError before the
    run starts when the store is unreachable or a run id is unknown.
    """
    uri = resolve_tracking_uri(getattr(tracking, "uri", None), offline=offline)
    experiment = getattr(tracking, "experiment", None) or DEFAULT_EXPERIMENT
    name = getattr(tracking, "run_name", None) or run_name
    check_store(uri)
    client, experiment_id = open_store(uri, experiment)
    for label, ref in (("run to resume", resume_run_id), ("parent run", parent_run_id)):
        if ref is not None:
            get_run(client, ref, uri, label)
    with global_tracking_uri(uri):
        try:
            run = mlflow.start_run(
                run_id=resume_run_id,
                experiment_id=None if resume_run_id else experiment_id,
                run_name=None if resume_run_id else name,
                nested=True,
                parent_run_id=parent_run_id,
                tags=tags,
            )
        except Exception as error:  # MlflowException, or fluent's plain Exception on bad nesting
            raise SigattnError(f"cannot start run {name!r} in {uri}: {first_line(error)}") from None
        tracker = MlflowTracker(client, run.info, uri, resumed=resume_run_id is not None)
        status = RunStatus.FAILED
        try:
            yield tracker
            status = RunStatus.FINISHED
        except KeyboardInterrupt:
            status = RunStatus.KILLED
            raise
        finally:
            tracker._closed = True
            _end_run(client, tracker.run_id, RunStatus.to_string(status), quiet=status != RunStatus.FINISHED)


def _end_run(client: MlflowClient, run_id: str, status: str, *, quiet: bool) -> None:
    """End the run; on the error path never let a store failure hide the original exception."""
    try:
        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run(status)
        else:
            client.set_terminated(run_id, status)
    except Exception as error:
        if not quiet:
            raise SigattnError(f"could not end run {run_id} as {status}: {first_line(error)}") from error


def link_evaluation(tracker: MlflowTracker, source_run: str) -> None:
    """Mark an evaluation run with the training run it evaluates (SOURCE_RUN_TAG)."""
    tracker.set_tags({SOURCE_RUN_TAG: source_run})


def fail_run(tracking: Any, run_id: str, reason: str) -> None:
    """End `run_id` FAILED with `reason` as a tag: for a run whose process died before it could end it."""
    client, _, _ = open_experiment(tracking)
    client.set_tag(run_id, "sigattn.failure", reason[:5000])
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))


def log_run_metrics(tracking: Any, run_id: str, metrics: dict[str, float], step: int) -> None:
    """Add metrics to a run that has ended (e.g. costs measured after a pipeline's workers finished)."""
    client, _, _ = open_experiment(tracking)
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, int(step)) for k, v in metrics.items()])
