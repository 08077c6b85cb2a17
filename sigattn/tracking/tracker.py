"""`MlflowTracker`: the Tracker protocol of `sigattn.train.tracker` on one MLflow run.

Logging goes through an `MlflowClient` with the run id spelt out, so nothing ever opens a run by
accident. A trained model is logged twice (sigattn.tracking.logged_model): `model`, the pyfunc
`mlflow models serve -m runs:/<id>/model` answers with class names and probabilities, and
`torch_model`, the bare module as a torch.export graph that needs neither sigattn nor pickle.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from torch import nn

from sigattn.errors import SigattnError
from sigattn.tracking.locks import store_lock

_MAX_PARAM_VALUE = 6000  # MLflow's cap on a param value
_PARAMS_PER_BATCH = 100  # MLflow's cap on params per log_batch
_MAX_DIGEST = 36  # MLflow's cap on a dataset digest


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
    """sigattn.train.tracker.Tracker on one MLflow run; usable only inside its tracked_run."""

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
        inputs = [DatasetInput(dataset._to_mlflow_entity(), tags=tags)]
        # MLflow looks the dataset up, then inserts it: two runs logging it at once collide on its
        # unique key. The store's lock prevents that for sqlite; elsewhere (a server) the loser's
        # second try finds the row (log_inputs is idempotent).
        with store_lock(self.tracking_uri):
            try:
                self.client.log_inputs(run_id, datasets=inputs)
            except MlflowException:
                self.client.log_inputs(run_id, datasets=inputs)

    def log_model(
        self, model: nn.Module, checkpoint: Path, input_example: np.ndarray, side_example: np.ndarray | None = None
    ) -> None:
        """runs:/<run_id>/model, the served pyfunc, and runs:/<run_id>/torch_model, the bare module.

        `input_example` holds prepared windows. `model` (sigattn.tracking.served) takes raw windows `x`
        (N, C, L; the signal channels alone, before any a transform adds) and, for a beat model, raw
        side features `side` (N, F), and answers a class name and one probability per class.
        `torch_model` (a torch.export graph) takes prepared windows (and standardised side features,
        as `model(x, side)`) and returns logits. `checkpoint` must be a sigattn checkpoint (best.pt):
        its ModelMeta gives the contract, and it rides along with both.
        """
        from sigattn.data.side import SideStats  # imported here: they load scipy and mlflow.pyfunc
        from sigattn.models.checkpoint import load_checkpoint
        from sigattn.tracking.logged_model import log_served_model, log_torch_model

        run_id = self._open()
        if not Path(checkpoint).is_file():
            raise SigattnError(f"cannot log the model with checkpoint {checkpoint}: no such file")
        meta = load_checkpoint(checkpoint)["meta"]
        example = np.asarray(input_example, dtype=np.float32)
        if example.ndim != 3 or len(example) == 0:
            raise SigattnError(f"input_example must be a (N, C, L) array with N >= 1; got shape {example.shape}")
        rows = np.concatenate([np.arange(min(2, len(example))), [0]])[:2]  # two rows keep the batch axis dynamic
        x = np.ascontiguousarray(example[rows])
        side = None if side_example is None else np.ascontiguousarray(np.asarray(side_example, np.float32)[rows])
        standardised = side
        if side is not None and meta.side_stats is not None:
            standardised = SideStats.from_dict(meta.side_stats).apply(side)
        torch_examples = [x] if standardised is None else [x, standardised]
        log_torch_model(model, checkpoint, torch_examples, run_id, self._last_step)
        raw = np.ascontiguousarray(x[:, : meta.signal_channels])  # prepared windows stand in for raw ones
        if raw.shape[-1] != meta.window_length:  # a spectrum input: prepared windows are not signal windows
            raw = np.random.default_rng(0).standard_normal((len(x), meta.signal_channels, meta.window_length))
            raw = raw.astype(np.float32)
        log_served_model(meta, checkpoint, raw, side, run_id, self._last_step)
