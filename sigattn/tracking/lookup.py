"""Reading the store: checkpoints behind run and model references, run details and searches."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sigattn.errors import SigattnError
from sigattn.tracking.store import (
    CHECKPOINT_ARTIFACT,
    RUN_ID,
    check_store,
    connect,
    default_tracking_uri,
    first_line,
    get_run,
    open_experiment,
    resolve_tracking_uri,
)


def _parse_ref(model_ref: str, client: MlflowClient, uri: str) -> tuple[str, str]:
    """(run id, artifact path) behind a run id, runs:/ or models:/ reference."""
    ref = model_ref.strip()
    if RUN_ID.fullmatch(ref):
        return ref, CHECKPOINT_ARTIFACT
    if ref.startswith("runs:/"):
        run_id, _, path = ref[len("runs:/") :].strip("/").partition("/")
        return run_id, path if path.endswith((".pt", ".pth")) else CHECKPOINT_ARTIFACT
    if ref.startswith("models:/"):
        name, _, version = ref[len("models:/") :].strip("/").partition("/")
        try:
            if not version and name.startswith("m-"):
                run_id = client.get_logged_model(name).source_run_id
            elif version.startswith("@") or (version and not version.isdigit()):
                run_id = client.get_model_version_by_alias(name, version.lstrip("@")).run_id
            else:
                run_id = client.get_model_version(name, version).run_id
        except MlflowException:
            raise SigattnError(f"model {model_ref!r} not found in tracking store {uri}") from None
        if not run_id:
            raise SigattnError(f"model {model_ref!r} has no source run holding a checkpoint")
        return run_id, CHECKPOINT_ARTIFACT
    raise SigattnError(
        f"cannot read model reference {model_ref!r}: expected a checkpoint file (.pt), a run id (32 hex), "
        "runs:/<run_id>[/path.pt] or models:/<name>/<version>"
    )


def _client_for_reading(tracking_uri: str | None, model_ref: str) -> tuple[MlflowClient, str]:
    uri = resolve_tracking_uri(tracking_uri)
    if uri == default_tracking_uri() and not Path("mlflow.db").is_file():
        raise SigattnError(
            f"cannot look up {model_ref!r}: no mlflow.db here; pass --tracking-uri or set MLFLOW_TRACKING_URI"
        )
    check_store(uri)
    return connect(uri), uri


def source_run_id(model_ref: str, tracking_uri: str | None = None) -> str | None:
    """The training run behind `model_ref` (None for a local checkpoint file), for SOURCE_RUN_TAG."""
    if Path(model_ref).is_file():
        return None
    client, uri = _client_for_reading(tracking_uri, model_ref)
    return _parse_ref(model_ref, client, uri)[0]


def resolve_checkpoint(model_ref: str, tracking_uri: str | None = None, dst_dir: Path | None = None) -> Path:
    """A local checkpoint for `model_ref`: a .pt path, a run id, runs:/<id>[/path.pt] or models:/<name>/<v>.

    Run references download the run's checkpoints/best.pt (or the named .pt artifact) into
    `dst_dir` (a fresh temporary folder by default).
    """
    path = Path(model_ref).expanduser()
    if path.is_file():
        return path
    if path.suffix in (".pt", ".pth") and not model_ref.startswith(("runs:/", "models:/")):
        raise SigattnError(f"checkpoint {model_ref} does not exist")
    client, uri = _client_for_reading(tracking_uri, model_ref)
    run_id, artifact = _parse_ref(model_ref, client, uri)
    get_run(client, run_id, uri)
    target = Path(dst_dir) if dst_dir is not None else Path(tempfile.mkdtemp(prefix="sigattn-ckpt-"))
    target.mkdir(parents=True, exist_ok=True)
    try:
        local = client.download_artifacts(run_id, artifact, str(target))
    except Exception as error:
        reason = first_line(error)
        raise SigattnError(f"run {run_id} (from {model_ref!r}) has no artifact {artifact}: {reason}") from None
    return Path(local)


def run_info(run_id: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """Status, name, params, latest metrics and tags of one run (for the CLI)."""
    client, uri = _client_for_reading(tracking_uri, run_id)
    run = get_run(client, run_id, uri)
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "status": run.info.status,
        "experiment_id": run.info.experiment_id,
        "artifact_uri": run.info.artifact_uri,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": dict(run.data.tags),
    }


def latest_tagged_run(tracking: Any, run_name: str, tag: str, value: str) -> str | None:
    """The id of the most recent run named `run_name` with tag `tag` = `value`, or None."""
    client, experiment_id, uri = open_experiment(tracking)
    quote = lambda text: text.replace("\\", "\\\\").replace("'", "\\'")  # noqa: E731
    query = f"attributes.run_name = '{quote(run_name)}' and tags.`{tag}` = '{quote(value)}'"
    try:
        runs = client.search_runs([experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
    except MlflowException as error:
        raise SigattnError(f"cannot search runs in {uri}: {first_line(error)}") from None
    return runs[0].info.run_id if runs else None


def child_runs(tracking: Any, parent_run_id: str) -> list[dict[str, Any]]:
    """The runs nested under `parent_run_id`, oldest first: run_id, run_name, status, tags, metrics."""
    client, experiment_id, uri = open_experiment(tracking)
    query = f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    runs, token = [], None
    while True:
        try:
            page = client.search_runs(
                [experiment_id], query, order_by=["attributes.start_time ASC"], max_results=1000, page_token=token
            )
        except MlflowException as error:
            raise SigattnError(f"cannot search runs in {uri}: {first_line(error)}") from None
        runs += page
        token = page.token
        if not token:
            break
    return [
        {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "tags": dict(run.data.tags),
            "metrics": dict(run.data.metrics),
        }
        for run in runs
    ]
