"""`sigattn train | predict`: train a model, predict on files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from sigattn.cli.options import (
    FsOption,
    SetOption,
    TrackingUriOption,
    interrupts_as_keyboard_interrupt,
    load_model,
    overrides,
    resume_checkpoint,
    scores_line,
)
from sigattn.cli.root import app, user_errors
from sigattn.errors import SigattnError


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Argument(help="Run config (YAML) [default: the synthetic quickstart].")
    ] = None,
    set_: SetOption = None,
    dataset: Annotated[
        str | None, typer.Option(help="data.dataset: synthetic, cwru, mitdb, wfdb-beats or manifest.")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="data.data_dir [default: $SIGATTN_DATA_DIR].")] = None,
    block: Annotated[str | None, typer.Option(help="model.block: none, se, cbam, eca, gc or ca.")] = None,
    backbone: Annotated[str | None, typer.Option(help="model.backbone: cnn, resnet or wdcnn.")] = None,
    epochs: Annotated[int | None, typer.Option(help="train.epochs.")] = None,
    seed: Annotated[int | None, typer.Option(help="train.seed.")] = None,
    device: Annotated[str | None, typer.Option(help="train.device: auto, cpu, cuda[:N] or mps.")] = None,
    tracking_uri: TrackingUriOption = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment [default: sigattn].")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Run id of an interrupted run: continue it from its last checkpoint.")
    ] = None,
    offline: Annotated[bool, typer.Option(help="Log to the local store (./mlflow.db) whatever the URI.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train a classifier, log the run to MLflow, and print the run id and its metrics."""
    from sigattn.config import load_config, run_name
    from sigattn.data.prepare import prepare
    from sigattn.experiments.run import train_and_report
    from sigattn.outputs import check_writable_folder

    pairs = [
        ("data.dataset", dataset),
        ("data.data_dir", data_dir),
        ("model.block", block),
        ("model.backbone", backbone),
        ("train.epochs", epochs),
        ("train.seed", seed),
        ("train.device", device),
        ("tracking.uri", tracking_uri),
        ("tracking.experiment", experiment),
    ]
    with user_errors():
        from contextlib import nullcontext

        from sigattn import tracking
        from sigattn.evaluate.adapt import ADAPTED_LABEL, ADAPTED_PREFIX
        from sigattn.train import distributed
        from sigattn.train.saturation import saturation_note
        from sigattn.train.tracker import NullTracker

        checkpoint = resume_checkpoint(resume, tracking_uri) if resume else None
        base = checkpoint["meta"].config if checkpoint and config is None else config
        cfg = load_config(base, overrides([*pairs, ("train.quiet", quiet or None)], set_))
        check_writable_folder(Path(cfg.train.checkpoint_dir), "train.checkpoint_dir")
        prepared = prepare(cfg.data)
        _check_model(cfg, prepared)
        if offline and distributed.env_rank() == 0:
            typer.secho("offline: logging to the local store ./mlflow.db", err=True)
        tracker = None
        try:
            with (
                interrupts_as_keyboard_interrupt(),
                distributed.process_group(cfg.train.device) as ranks,  # under torchrun; else one process
                tracking.tracked_run(
                    cfg.tracking, run_name=run_name(cfg, len(prepared.classes)), resume_run_id=resume, offline=offline
                )
                if ranks.main
                else nullcontext(NullTracker()) as tracker,
            ):
                result = train_and_report(cfg, prepared, tracker, resume=checkpoint, progress=not cfg.train.quiet)
        except KeyboardInterrupt:
            hint = f"; continue with `sigattn train --resume {tracker.run_id}`" if tracker and tracker.run_id else ""
            typer.secho(f"interrupted: the last checkpoint is saved{hint}", err=True)
            raise typer.Exit(code=130) from None
    if not ranks.main:  # rank 0 reports the run
        return
    metrics = result.test_metrics
    typer.echo(f"run {result.run_id} ({result.run_name})")
    typer.echo(f"best {result.monitor} = {result.best_value:.4f} at epoch {result.best_epoch}")
    note = saturation_note(result.history, result.monitor)
    if note:
        typer.secho(note, err=True)
    typer.echo(scores_line(cfg.train.report_split, metrics))
    if ADAPTED_PREFIX in metrics:
        typer.echo(scores_line(f"{cfg.train.report_split} {ADAPTED_LABEL}", metrics[ADAPTED_PREFIX]))
    typer.echo(tracking.view_hint(tracker))


def _check_model(cfg, prepared) -> None:
    """Build the model `fit` will build, once, so a model config that cannot work fails before the run starts."""
    from sigattn.models.checkpoint import model_for
    from sigattn.train.bundle import bundle_meta

    meta = bundle_meta(cfg, prepared)
    try:
        model_for(meta)
    except SigattnError as error:
        m = cfg.model
        widths = "default" if m.widths is None else list(m.widths)
        raise SigattnError(f"model (backbone {m.backbone}, widths {widths}, options {m.options}): {error}") from None


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="Run id, runs:/<id>, models:/<name>/<version> or a checkpoint file.")],
    inputs: Annotated[list[str], typer.Argument(help="CSV/NPY/MAT[#key]/WFDB files or folders of them.")],
    out: Annotated[str, typer.Option(help="Output file (.csv or .json), or - for stdout.")] = "-",
    fmt: Annotated[
        Literal["csv", "json"] | None, typer.Option("--format", help="Output format [default: from --out, else csv].")
    ] = None,
    fs: FsOption = None,
    beats: Annotated[
        Literal["annotations", "detect"] | None,
        typer.Option(
            help="Beat models: beats from the record's annotations or detected by XQRS [default: annotations]."
        ),
    ] = None,
    annotation: Annotated[
        str, typer.Option(help="Beat models: annotation file extension with --beats annotations.")
    ] = "atr",
    wfdb_out: Annotated[
        Path | None,
        typer.Option(help="Beat models: also write <record>.<--wfdb-extension> annotations (N/S/V/F/Q) here."),
    ] = None,
    wfdb_extension: Annotated[str, typer.Option(help="Extension of the --wfdb-out annotation files.")] = "pred",
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Predict every window of the input files with the model's own transforms and windowing; for a
    beat model, every beat of WFDB records (one row per beat)."""
    from sigattn.evaluate.files import BeatOptions, format_predictions, predict_files
    from sigattn.outputs import write_atomically

    fmt = fmt or ("json" if out.lower().endswith(".json") else "csv")
    given = beats is not None or annotation != "atr" or wfdb_out is not None or wfdb_extension != "pred"
    options = BeatOptions(beats or "annotations", annotation, wfdb_out, wfdb_extension) if given else None
    with user_errors():
        net, meta, _ = load_model(model, tracking_uri)
        predictions = predict_files(net, meta, inputs, fs=fs, beat_options=options)
        text = format_predictions(predictions, fmt)
        if out == "-":
            typer.echo(text, nl=False)
        else:
            write_atomically(Path(out), text)
    for path in predictions.skipped:
        typer.secho(f"skipped {path}: not a signal file", err=True)
    for note in predictions.notes:
        typer.secho(note, err=True)
    if out != "-":
        typer.echo(f"wrote {len(predictions.rows)} predictions to {out}", err=True)
