"""Where to look at a run: the command that starts the MLflow UI and the address of the run's page."""

from __future__ import annotations

import shlex
from pathlib import Path

from sigattn.tracking.store import default_tracking_uri
from sigattn.tracking.tracker import MlflowTracker

UI_ADDRESS = "http://127.0.0.1:5000"  # where `mlflow ui` listens by default
_DATABASES = ("sqlite:", "postgresql", "mysql", "mssql")  # stores `mlflow ui --backend-store-uri` opens


def view_hint(tracker: MlflowTracker) -> str:
    """One line telling the user how to open the run of `tracker` in the MLflow UI."""
    if tracker.url is not None:  # a tracking server shows the run itself
        return f"view it: open {tracker.url}"
    page = f"{UI_ADDRESS}/#/experiments/{tracker.experiment_id}/runs/{tracker.run_id}"
    uri = tracker.tracking_uri
    if uri == default_tracking_uri():  # ./mlflow.db: what a bare `mlflow ui` opens
        return f"view it: run `mlflow ui` in {Path.cwd()}, then open {page}"
    if uri.startswith(_DATABASES):
        return f"view it: run `mlflow ui --backend-store-uri {shlex.quote(uri)}`, then open {page}"
    return f"view it: experiment {tracker.experiment_id}, run {tracker.run_id} in tracking store {uri}"
