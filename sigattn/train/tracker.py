"""What the training loop reports to: the Tracker protocol and a tracker that keeps nothing.

`sigattn.tracking` implements it with MLflow; tests use NullTracker or a recording fake.
Values are plain Python/numpy and matplotlib figures, so no tracking library leaks into training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from matplotlib.figure import Figure
from torch import nn


class Tracker(Protocol):
    run_id: str | None

    def log_config(self, config: dict[str, Any]) -> None:
        """The resolved run config: flattened as params, and whole as a YAML artifact.

        `fit` passes `RunConfig.to_dict()` plus a "resolved" section (device, precision, classes,
        run_name, in_channels, fs, window_length, steps_per_epoch, n_params); not on resume."""

    def set_tags(self, tags: dict[str, str]) -> None: ...

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Scalar metrics at `step` (the epoch; the final test metrics use the last epoch)."""

    def log_figure(self, figure: Figure, path: str) -> None:
        """A matplotlib figure as a PNG artifact at `path` (e.g. "plots/confusion_test.png")."""

    def log_dict(self, data: dict[str, Any], path: str) -> None:
        """A JSON or YAML artifact (by the suffix of `path`)."""

    def log_file(self, local_path: Path, artifact_dir: str) -> None:
        """A local file (e.g. a checkpoint) as an artifact under `artifact_dir`.

        `fit` logs last.pt to "checkpoints" after every epoch and on interruption (so a run can be
        resumed from the tracking store); `sigattn.experiments.run` logs best.pt once at the end."""

    def log_dataset(self, name: str, digest: str, summary: dict[str, Any], context: str) -> None:
        """The input dataset: its name, a content digest and its summary (`context`: training/testing)."""

    def log_model(
        self, model: nn.Module, checkpoint: Path, input_example: np.ndarray, side_example: np.ndarray | None = None
    ) -> None:
        """The trained model, servable and loadable, with the checkpoint that rebuilds it.

        `sigattn.experiments.run` passes the best model on CPU in eval mode, best.pt, the first two
        report-split windows (N, C, L) float32 and, for a model with side features, their raw side
        features (N, F) before standardisation, as a client of the served model sends them;
        `sigattn.models.checkpoint.model_from_checkpoint(best.pt)` rebuilds it."""


class NullTracker:
    """A Tracker that records nothing (library use without MLflow, and tests)."""

    run_id: str | None = None

    def log_config(self, config: dict[str, Any]) -> None:
        pass

    def set_tags(self, tags: dict[str, str]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_figure(self, figure: Figure, path: str) -> None:
        pass

    def log_dict(self, data: dict[str, Any], path: str) -> None:
        pass

    def log_file(self, local_path: Path, artifact_dir: str) -> None:
        pass

    def log_dataset(self, name: str, digest: str, summary: dict[str, Any], context: str) -> None:
        pass

    def log_model(
        self, model: nn.Module, checkpoint: Path, input_example: np.ndarray, side_example: np.ndarray | None = None
    ) -> None:
        pass
