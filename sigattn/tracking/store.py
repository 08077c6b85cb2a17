"""The MLflow store: which URI, whether it can be reached, and the experiment a run goes to.

The store is `--tracking-uri` > `$MLFLOW_TRACKING_URI` > `sqlite:///<cwd>/mlflow.db` with artifacts
under `<cwd>/mlruns` (MLflow's own default, so a bare `mlflow ui` in that folder shows everything).
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service import utils as _tracking_utils

from sigattn.errors import SigattnError
from sigattn.tracking.locks import store_lock

DEFAULT_EXPERIMENT = "sigattn"
SOURCE_RUN_TAG = "sigattn.source_run"  # set on evaluation runs: the training run they evaluate
CHECKPOINT_ARTIFACT = "checkpoints/best.pt"  # what training logs with log_file(path, "checkpoints")
MODEL_NAME = "model"  # the served pyfunc: runs:/<run_id>/model (sigattn.tracking.served)
TORCH_MODEL_NAME = "torch_model"  # the bare torch module (torch.export): runs:/<run_id>/torch_model
_PROBE_TIMEOUT_S = 3.0
RUN_ID = re.compile(r"[0-9a-f]{32}")


def default_tracking_uri() -> str:
    """`sqlite:///<cwd>/mlflow.db`: absolute, because MLflow caches stores by URI."""
    return "sqlite:///" + Path("mlflow.db").resolve().as_posix()  # four slashes: an absolute path


def resolve_tracking_uri(uri: str | None = None, *, offline: bool = False) -> str:
    """The store to use: the local default when `offline`, else `uri` > $MLFLOW_TRACKING_URI > default."""
    if offline:
        return default_tracking_uri()
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def check_store(uri: str) -> None:
    """Fail in seconds, before any training, when the store cannot be reached."""
    hint = "start it, pass another --tracking-uri or unset MLFLOW_TRACKING_URI"
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=_PROBE_TIMEOUT_S):
                return
        except urllib.error.HTTPError as error:
            if error.code < 500:  # it answers (maybe behind auth): let MLflow speak for it
                return
            reason: object = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
        raise SigattnError(f"tracking store {uri} is unreachable: {reason}; {hint}")
    if uri.startswith("sqlite:///"):
        folder = Path.cwd() / Path(uri[len("sqlite:///") :].split("?")[0]).parent  # cwd / "/abs" is "/abs"
        if not folder.is_dir():
            raise SigattnError(
                f"tracking store {uri} is unusable: folder {folder} does not exist; "
                "create it or pass another --tracking-uri"
            )


@contextmanager
def global_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API and Model.log read a global URI: set it, and put back what was there.

    Also keeps MLflow from printing "View run ... at" and artifact progress bars (library code
    never prints; see MlflowTracker.url).
    """
    old_uri = _tracking_utils._tracking_uri
    quiet = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    old_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", *quiet)}
    mlflow.set_tracking_uri(uri)
    for key, value in quiet.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(old_uri)  # None also unsets MLFLOW_TRACKING_URI: restore both below
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def open_store(uri: str, name: str) -> tuple[MlflowClient, str]:
    """A client on `uri` and the id of experiment `name` (created if new).

    Holds the store's lock (see sigattn.tracking.locks): building a new sqlite store, and
    creating an experiment, race when several processes start at once.
    """
    with store_lock(uri):
        try:
            client = MlflowClient(uri)
            experiment = client.get_experiment_by_name(name)  # the first call builds (or migrates) the store
            if experiment is None:  # in the default store its artifact root is <cwd>/mlruns/<id>
                return client, client.create_experiment(name)
        except Exception as error:  # MlflowException, a missing DB driver, a refused file store...
            raise SigattnError(f"tracking store {uri} is unusable: {first_line(error)}") from None
    if experiment.lifecycle_stage != "active":
        raise SigattnError(
            f"experiment {name!r} in {uri} is deleted; restore it (mlflow experiments restore) or pick another name"
        )
    return client, experiment.experiment_id


def connect(uri: str) -> MlflowClient:
    """A client on `uri` whose store is built (created or migrated) under the store's lock."""
    with store_lock(uri):
        try:
            client = MlflowClient(uri)
            client.search_experiments(max_results=1)
        except Exception as error:
            raise SigattnError(f"tracking store {uri} is unusable: {first_line(error)}") from None
    return client


def first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", "") or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def get_run(client: MlflowClient, run_id: str, uri: str, label: str = "run") -> Any:
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise SigattnError(f"{label} {run_id!r} not found in tracking store {uri}") from None


def open_experiment(tracking: Any) -> tuple[MlflowClient, str, str]:
    uri = resolve_tracking_uri(getattr(tracking, "uri", None))
    check_store(uri)
    client, experiment_id = open_store(uri, getattr(tracking, "experiment", None) or DEFAULT_EXPERIMENT)
    return client, experiment_id, uri
