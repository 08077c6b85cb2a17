"""`sigattn explain`: draw where a model looks on chosen windows, and score whether it matters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from sigattn.cli.options import FsOption, TrackingUriOption, load_model
from sigattn.cli.root import app, positive, user_errors

if TYPE_CHECKING:
    from sigattn.explain.windows import Written


def _plots(written: Written) -> str:
    """The plots written, counted: e.g. "3 overlay plot(s)"."""
    return f"{len(written.overlays)} overlay plot(s)"


@app.command()
def explain(
    model: Annotated[str, typer.Argument(help="Run id, runs:/<id>, models:/<name>/<version> or a checkpoint file.")],
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Files or folders to explain [default: the model's own data split].")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the PNGs and maps.json.")] = Path("explain"),
    class_name: Annotated[
        str | None, typer.Option("--class", help="Only this class (true class for a split, predicted for files).")
    ] = None,
    limit: Annotated[int, typer.Option(callback=positive, help="At most this many windows per class.")] = 4,
    stage: Annotated[int | None, typer.Option(help="Only this stage (0-based) [default: every stage].")] = None,
    split: Annotated[Literal["test", "val", "train"], typer.Option(help="Split to explain without INPUT.")] = "test",
    scores: Annotated[
        bool, typer.Option("--scores", help="Also compute the interpretability scores (needs a labelled split).")
    ] = False,
    fs: FsOption = None,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Draw what the model attends to on chosen windows; with --scores, measure whether it matters."""
    from sigattn.config import load_config, run_name
    from sigattn.data.manifest import read_signal
    from sigattn.data.prepare import prepare
    from sigattn.evaluate.files import input_files, windows_for_model
    from sigattn.explain.axis import input_axis
    from sigattn.explain.scores import score_windows, skipped_scores
    from sigattn.explain.windows import Selection, explain_windows
    from sigattn.outputs import check_writable_folder, staged_folder

    if scores and inputs:
        raise typer.BadParameter("scores need labelled windows: leave out INPUT to use the model's data split")
    selection = Selection(class_name, limit, stage)
    skipped: list[str] = []
    notes: list[str] = []  # printed once everything succeeded: an error stays one line
    with user_errors():
        check_writable_folder(out, "--out")
        net, meta, _ = load_model(model, tracking_uri)
        cfg = load_config(meta.config)
        title = run_name(cfg, len(meta.classes))
        if inputs:
            files, skipped = input_files(inputs)
            parts, names = [], []
            for name in files:
                path, _, key = name.partition("#")
                signal, file_fs = read_signal(Path(path), key=key or None)
                x, starts, note = windows_for_model(signal, file_fs or fs, meta, name)
                notes += [note] if note else []
                parts.append(x)
                names += [f"{Path(path).name}@{start}" for start in starts]
            x, labels, side = np.concatenate(parts), None, None
        else:
            prepared = prepare(cfg.data)
            windows = prepared.splits[split]
            x, labels, side = windows.x, windows.y, windows.side
            names = [
                f"{Path(str(src)).stem}@{start}" for src, start in zip(windows.sources, windows.starts, strict=True)
            ]
        results = None
        if scores:  # first, so the overlays carry the run's deletion drops and order views by them
            before = meta.beat.before if meta.beat else None
            axis = input_axis(meta.transforms, meta.fs, meta.window_length)
            results = score_windows(net, windows, dataset=meta.dataset, before=before, axis=axis)
            note = skipped_scores(meta.dataset, axis)
            notes += [note] if note else []
        with staged_folder(out, "--out") as stage:  # files reach --out only if everything succeeds
            written = explain_windows(net, x, labels, names, meta, stage, selection, title=title,
                                      block=cfg.model.blocks_label(), side=side, run_scores=results)  # fmt: skip
    for path in skipped:
        typer.secho(f"skipped {path}: not a signal file", err=True)
    for note in notes:
        typer.secho(note, err=True)
    typer.echo(f"wrote {_plots(written)} and maps.json to {out}")
    if results is not None:
        table = Table(title=f"interpretability scores ({split} split)")
        table.add_column("score")
        table.add_column("value", justify="right")
        for key, value in results.items():
            table.add_row(key, f"{value:.4f}")
        Console().print(table)
