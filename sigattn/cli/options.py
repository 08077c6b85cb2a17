"""Options and helpers shared by the commands: --set, --fs, --tracking-uri, SIGTERM, model loading."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer


@contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so a killed run saves its checkpoint and ends KILLED."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def overrides(pairs: list[tuple[str, object]], sets: list[str] | None) -> list[str]:
    """Explicit options as `key=value` overrides, then the `--set` ones (which win)."""
    return [f"{key}={value}" for key, value in pairs if value is not None] + list(sets or [])


SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config key, e.g. --set train.epochs=30 (repeatable).")
]


def positive_rate(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"expected a positive rate in Hz; got {value}")
    return value


FsOption = Annotated[
    float | None,
    typer.Option(callback=positive_rate, help="Sampling rate of inputs that do not carry one (CSV/NPY/MAT), in Hz."),
]
TrackingUriOption = Annotated[
    str | None, typer.Option(help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db].")
]


def resume_checkpoint(run_id: str, tracking_uri: str | None) -> dict:
    """The last checkpoint of run `run_id`: the local copy if there is one, else the logged one."""
    from sigattn.models.checkpoint import load_checkpoint
    from sigattn.tracking import resolve_checkpoint

    local = Path("checkpoints") / run_id / "last.pt"
    path = local if local.is_file() else resolve_checkpoint(f"runs:/{run_id}/checkpoints/last.pt", tracking_uri)
    return load_checkpoint(path)


def load_model(model: str, tracking_uri: str | None):
    """(model, meta, training run id or None) for a run id, runs:/ or models:/ URI, or a checkpoint file."""
    from sigattn.models.checkpoint import model_from_checkpoint
    from sigattn.tracking import resolve_checkpoint, source_run_id

    net, meta = model_from_checkpoint(resolve_checkpoint(model, tracking_uri))
    return net, meta, source_run_id(model, tracking_uri)


def scores_line(what: str, metrics: dict) -> str:
    """`<what> accuracy = ..., macro-F1 = ..., balanced accuracy = ...` for the CLI's result lines."""
    return (
        f"{what} accuracy = {metrics['accuracy']:.4f}, macro-F1 = {metrics['macro_f1']:.4f}, "
        f"balanced accuracy = {metrics['balanced_accuracy']:.4f}"
    )
