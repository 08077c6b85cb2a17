"""`sigattn run`: every cell of a pipeline as child runs of one MLflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sigattn.cli.options import SetOption, TrackingUriOption, interrupts_as_keyboard_interrupt
from sigattn.cli.root import app, user_errors
from sigattn.errors import SigattnError


def jobs_value(value: str) -> int | str:
    """--jobs: a positive integer or "auto"."""
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise typer.BadParameter(f"expected a positive integer or auto; got {value!r}")
    return int(value)


@app.command("run")
def run_pipeline_command(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline (YAML): a base config, a grid and/or cells.")],
    jobs: Annotated[
        str,
        typer.Option(
            callback=jobs_value,
            help="Cells trained at once, in worker processes: a number, or auto (one per core, as memory allows).",
        ),
    ] = "1",
    set_: SetOption = None,
    tracking_uri: TrackingUriOption = None,
    out: Annotated[Path | None, typer.Option(help="Folder for summary.md/.csv [default: results/<name>/].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the expanded cells; train nothing.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="Run only these values of a grid key, e.g. --grid 'train.seed=[0]' (repeatable); "
            "'variant=[...]' and 'cell=[...]' pick named variants and labelled cells, "
            "'baseline=[...]' the baselines ([] for none).",
        ),
    ] = None,
) -> None:
    """Train every cell of a pipeline as child runs of one MLflow run, skipping cells finished earlier."""
    from sigattn.config import parse_override
    from sigattn.experiments.pipeline import PipelineInterrupted, cell_states, load_pipeline, run_pipeline

    def show(kind: str, value) -> None:
        if kind == "parent":
            typer.echo(f"pipeline run {value}")
        elif kind == "jobs":
            typer.echo(f"{value.jobs} cell(s) at a time, {value.threads} thread(s) each ({value.reason})")
        elif kind == "ensembles":
            typer.echo("scoring each cell's seeds as one model (ensemble: true)")
        elif value.status == "skipped":
            typer.echo(f"{value.cell.title}: skipped (finished earlier)")
        elif value.status == "failed":
            typer.secho(f"{value.cell.title}: FAILED: {value.error}", err=True, fg=typer.colors.RED)
        elif value.status == "killed":
            typer.secho(f"{value.cell.title}: KILLED (interrupted)", err=True)
        else:
            m, split = value.metrics, value.cell.config.train.report_split
            typer.echo(
                f"{value.cell.title}: run {value.run_id} {split} accuracy = {m['accuracy']:.4f}, "
                f"macro-F1 = {m['macro_f1']:.4f}"
            )

    with user_errors():
        only = dict(parse_override(g, "--grid") for g in grid or [])
        if dry_run:
            spec = load_pipeline(pipeline, overrides=set_ or [], tracking_uri=tracking_uri, only=only)
            states = cell_states(spec)
            for i, cell in enumerate(spec.cells, 1):
                typer.echo(f"{i:3d}  {states[cell.key]:<8}  {cell.key}")
            counts = ", ".join(f"{sum(v == s for v in states.values())} {s}" for s in ("finished", "changed", "new"))
            typer.echo(f"{len(spec.cells)} cells in pipeline {spec.name} ({counts}); nothing was run (--dry-run)")
            return
        if out is not None:
            from sigattn.outputs import check_writable_folder

            check_writable_folder(out, "--out")
        with interrupts_as_keyboard_interrupt():
            try:
                result = run_pipeline(
                    pipeline,
                    jobs=jobs,  # type: ignore[arg-type] (jobs_value made it int or "auto")
                    tracking_uri=tracking_uri,
                    overrides=set_ or [],
                    progress=not quiet,
                    out_dir=out,
                    only=only,
                    on_event=show,
                )
            except KeyboardInterrupt as stop:
                if isinstance(stop, PipelineInterrupted):
                    typer.echo(stop.result.markdown, nl=False)
                    typer.echo(f"wrote summary.md and summary.csv of the finished cells to {stop.result.out_dir}")
                typer.secho("interrupted: rerun the same command to continue with the unfinished cells", err=True)
                raise typer.Exit(code=130) from None
        typer.echo(result.markdown, nl=False)
        typer.echo(f"wrote summary.md and summary.csv to {result.out_dir}")
        if result.failed:
            raise SigattnError(f"{len(result.failed)} of {len(result.outcomes)} cells failed; rerun to retry them")
