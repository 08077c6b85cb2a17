"""MLflow behind the Tracker protocol: the only package that imports mlflow."""

from sigattn.tracking.hints import view_hint
from sigattn.tracking.lookup import (
    child_runs,
    latest_tagged_run,
    resolve_checkpoint,
    run_info,
    source_run_id,
)
from sigattn.tracking.runs import fail_run, link_evaluation, log_run_metrics, tracked_run
from sigattn.tracking.store import (
    CHECKPOINT_ARTIFACT,
    DEFAULT_EXPERIMENT,
    MODEL_NAME,
    SOURCE_RUN_TAG,
    check_store,
    default_tracking_uri,
    resolve_tracking_uri,
)
from sigattn.tracking.tracker import MlflowTracker, flatten_params

__all__ = [
    "CHECKPOINT_ARTIFACT",
    "DEFAULT_EXPERIMENT",
    "MODEL_NAME",
    "SOURCE_RUN_TAG",
    "MlflowTracker",
    "check_store",
    "child_runs",
    "default_tracking_uri",
    "fail_run",
    "flatten_params",
    "latest_tagged_run",
    "link_evaluation",
    "log_run_metrics",
    "resolve_checkpoint",
    "resolve_tracking_uri",
    "run_info",
    "source_run_id",
    "tracked_run",
    "view_hint",
]
