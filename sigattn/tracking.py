"""MLflow behind the Tracker protocol: the only module that imports mlflow.

`tracked_run(cfg.tracking, run_name=...)` opens one run and yields an `MlflowTracker`. The store
is `--tracking-uri` > `$MLFLOW_TRACKING_URI` > `sqlite:///<cwd>/mlflow.db` with artifacts under
`<cwd>/mlruns` (MLflow's own default, so a bare `mlflow ui` in that folder shows everything).
The run always ends FINISHED, FAILED (exception) or KILLED (KeyboardInterrupt); never RUNNING.

Logging goes through an `MlflowClient` with the run id spelt out, so nothing ever opens a run by
accident. Models are logged as torch.export graphs with pinned torch and numpy requirements, so
`mlflow models serve -m runs:/<id>/model` needs neither sigattn nor pickle.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from matplotlib.figure import Figure
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service import utils as _tracking_utils
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from torch import nn

from sigattn.errors import SigattnError

DEFAULT_EXPERIMENT = "sigattn"
SOURCE_RUN_TAG = "sigattn.source_run"  # set on evaluation runs: the training run they evaluate
CHECKPOINT_ARTIFACT = "checkpoints/best.pt"  # what training logs with log_file(path, "checkpoints")
MODEL_NAME = "model"  # the logged model: runs:/<run_id>/model
_MAX_PARAM_VALUE = 6000  # MLflow's cap on a param value
_PARAMS_PER_BATCH = 100  # MLflow's cap on params per log_batch
_MAX_DIGEST = 36  # MLflow's cap on a dataset digest
_PROBE_TIMEOUT_S = 3.0
_RUN_ID = re.compile(r"[0-9a-f]{32}")


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
def _global_tracking_uri(uri: str) -> Iterator[None]:
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


def _open_store(uri: str, name: str) -> tuple[MlflowClient, str]:
    """A client on `uri` and the id of experiment `name` (created if new)."""
    try:
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is None:  # in the default store its artifact root is <cwd>/mlruns/<id>
            return client, client.create_experiment(name)
    except Exception as error:  # MlflowException, a missing DB driver, a refused file store...
        raise SigattnError(f"tracking store {uri} is unusable: {_first_line(error)}") from None
    if experiment.lifecycle_stage != "active":
        raise SigattnError(
            f"experiment {name!r} in {uri} is deleted; restore it (mlflow experiments restore) or pick another name"
        )
    return client, experiment.experiment_id


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
    client, experiment_id = _open_store(uri, experiment)
    for label, ref in (("run to resume", resume_run_id), ("parent run", parent_run_id)):
        if ref is not None:
            _get_run(client, ref, uri, label)
    with _global_tracking_uri(uri):
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
            raise SigattnError(f"cannot start run {name!r} in {uri}: {_first_line(error)}") from None
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


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", "") or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
            raise SigattnError(f"could not end run {run_id} as {status}: {_first_line(error)}") from error


def _get_run(client: MlflowClient, run_id: str, uri: str, label: str = "run") -> Any:
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise SigattnError(f"{label} {run_id!r} not found in tracking store {uri}") from None


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and paths as plain YAML/JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return str(value) if isinstance(value, Path) else value


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": "1", "c": "[1, 2]"}, values cut to MLflow's 6000 chars."""
    params: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            params.update(flatten_params(value, f"{prefix}{key}."))
            continue
        text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        params[f"{prefix}{key}"] = text if len(text) <= _MAX_PARAM_VALUE else text[: _MAX_PARAM_VALUE - 3] + "..."
    return params


class _SummaryDataset(MetaDataset):
    """A dataset recorded by name, digest and summary (the profile), without its data."""

    def __init__(self, name: str, digest: str, summary: dict[str, Any]) -> None:
        self._summary = summary
        super().__init__(CodeDatasetSource({"sigattn.dataset": name}), name=name, digest=digest)

    @property
    def profile(self) -> dict[str, Any]:
        return self._summary

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._summary, default=str)}


class MlflowTracker:
    """sigattn.tracker.Tracker on one MLflow run; usable only inside its tracked_run."""

    def __init__(self, client: MlflowClient, info: Any, tracking_uri: str, *, resumed: bool = False) -> None:
        """`info`: the run's mlflow.entities.RunInfo."""
        self.client, self.tracking_uri, self.resumed = client, tracking_uri, resumed
        self.run_id: str = info.run_id
        self.experiment_id, self.run_name, self.artifact_uri = info.experiment_id, info.run_name, info.artifact_uri
        self._last_step = 0
        self._closed = False

    @property
    def url(self) -> str | None:
        """The run's page in the MLflow UI, when the store is a server."""
        if not self.tracking_uri.startswith(("http://", "https://")):
            return None
        return f"{self.tracking_uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def _open(self) -> str:
        if self._closed:
            raise SigattnError(f"run {self.run_id} has ended; log only inside its tracked_run")
        return self.run_id

    def log_config(self, config: dict[str, Any]) -> None:
        run_id = self._open()
        plain = _plain(config)
        params = flatten_params(plain)
        existing = self.client.get_run(run_id).data.params
        new = [Param(k, v) for k, v in params.items() if k not in existing]
        changed = {k: {"was": existing[k], "now": v} for k, v in params.items() if k in existing and existing[k] != v}
        for start in range(0, len(new), _PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=new[start : start + _PARAMS_PER_BATCH])
        if not existing:
            self.client.log_dict(run_id, plain, "config.yaml")
        elif changed:  # a resumed run keeps its params; say what differs and keep the new config
            self.set_tags({"sigattn.changed_params": json.dumps(changed)[:5000]})
            self.client.log_dict(run_id, plain, "config_resume.yaml")

    def set_tags(self, tags: dict[str, str]) -> None:
        run_id = self._open()
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        run_id = self._open()
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=batch)
        self._last_step = max(self._last_step, int(step))

    def log_figure(self, figure: Figure, path: str) -> None:
        self.client.log_figure(self._open(), figure, path)

    def log_dict(self, data: dict[str, Any], path: str) -> None:
        self.client.log_dict(self._open(), _plain(data), path)

    def log_file(self, local_path: Path, artifact_dir: str) -> None:
        run_id = self._open()
        if not Path(local_path).is_file():
            raise SigattnError(f"cannot log {local_path}: no such file")
        self.client.log_artifact(run_id, str(local_path), artifact_dir)

    def log_dataset(self, name: str, digest: str, summary: dict[str, Any], context: str) -> None:
        run_id = self._open()
        tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
        if len(digest) > _MAX_DIGEST:
            tags.append(InputTag("sigattn.digest", digest))
        dataset = _SummaryDataset(name, digest[:_MAX_DIGEST], _plain(summary))
        self.client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags=tags)])

    def log_model(self, model: nn.Module, checkpoint: Path, input_example: np.ndarray) -> None:
        """runs:/<run_id>/model: a pyfunc taking float32 (N, C, L) and returning logits (N, K).

        Saved as a torch.export graph ("pt2", MLflow 3's default and its only format loadable
        without MLFLOW_ALLOW_PICKLE_DESERIALIZATION), so loading needs torch but not sigattn. The
        checkpoint rides along as an extra file. The batch axis stays dynamic because the example
        has at least two rows (torch.export fixes a size-1 axis).
        """
        import mlflow.pytorch
        from mlflow.models import infer_signature

        run_id = self._open()
        if not Path(checkpoint).is_file():
            raise SigattnError(f"cannot log the model with checkpoint {checkpoint}: no such file")
        example = np.asarray(input_example, dtype=np.float32)
        if example.ndim != 3 or len(example) == 0:
            raise SigattnError(f"input_example must be a (N, C, L) array with N >= 1; got shape {example.shape}")
        example = np.ascontiguousarray(np.concatenate([example[:2], example[:1]])[:2])
        cpu_model = copy.deepcopy(model).cpu().eval()  # leave the caller's model as it was
        with torch.no_grad():
            output = cpu_model(torch.from_numpy(example)).numpy()
        try:
            mlflow.pytorch.log_model(
                cpu_model,
                name=MODEL_NAME,
                run_id=run_id,
                step=self._last_step,
                signature=infer_signature(example, output),
                input_example=example,
                serialization_format="pt2",
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"],
                extra_files=[str(checkpoint)],
            )
        except Exception as error:
            raise SigattnError(
                f"could not log the model of run {run_id} (torch.export): {_first_line(error)}; "
                f"its checkpoint {Path(checkpoint).name} is unaffected"
            ) from error


def _parse_ref(model_ref: str, client: MlflowClient, uri: str) -> tuple[str, str]:
    """(run id, artifact path) behind a run id, runs:/ or models:/ reference."""
    ref = model_ref.strip()
    if _RUN_ID.fullmatch(ref):
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
    return MlflowClient(uri), uri


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
    _get_run(client, run_id, uri)
    target = Path(dst_dir) if dst_dir is not None else Path(tempfile.mkdtemp(prefix="sigattn-ckpt-"))
    target.mkdir(parents=True, exist_ok=True)
    try:
        local = client.download_artifacts(run_id, artifact, str(target))
    except Exception as error:
        reason = _first_line(error)
        raise SigattnError(f"run {run_id} (from {model_ref!r}) has no artifact {artifact}: {reason}") from None
    return Path(local)


def run_info(run_id: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """Status, name, params, latest metrics and tags of one run (for the CLI)."""
    client, uri = _client_for_reading(tracking_uri, run_id)
    run = _get_run(client, run_id, uri)
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


def link_evaluation(tracker: MlflowTracker, source_run: str) -> None:
    """Mark an evaluation run with the training run it evaluates (SOURCE_RUN_TAG)."""
    tracker.set_tags({SOURCE_RUN_TAG: source_run})


def _store(tracking: Any) -> tuple[MlflowClient, str, str]:
    uri = resolve_tracking_uri(getattr(tracking, "uri", None))
    check_store(uri)
    client, experiment_id = _open_store(uri, getattr(tracking, "experiment", None) or DEFAULT_EXPERIMENT)
    return client, experiment_id, uri


def latest_tagged_run(tracking: Any, run_name: str, tag: str, value: str) -> str | None:
    """The id of the most recent run named `run_name` with tag `tag` = `value`, or None."""
    client, experiment_id, uri = _store(tracking)
    quote = lambda text: text.replace("\\", "\\\\").replace("'", "\\'")  # noqa: E731
    query = f"attributes.run_name = '{quote(run_name)}' and tags.`{tag}` = '{quote(value)}'"
    try:
        runs = client.search_runs([experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
    except MlflowException as error:
        raise SigattnError(f"cannot search runs in {uri}: {_first_line(error)}") from None
    return runs[0].info.run_id if runs else None


def child_runs(tracking: Any, parent_run_id: str) -> list[dict[str, Any]]:
    """The runs nested under `parent_run_id`, oldest first: run_id, run_name, status, tags, metrics."""
    client, experiment_id, uri = _store(tracking)
    query = f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    runs, token = [], None
    while True:
        try:
            page = client.search_runs(
                [experiment_id], query, order_by=["attributes.start_time ASC"], max_results=1000, page_token=token
            )
        except MlflowException as error:
            raise SigattnError(f"cannot search runs in {uri}: {_first_line(error)}") from None
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
