"""`sigattn data describe | fetch`: prepare and audit a dataset, or download one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from sigattn.cli.root import app, user_errors

data_app = typer.Typer(help="Describe and fetch datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("describe")
def data_describe(
    dataset: Annotated[
        Literal["synthetic", "cwru", "mitdb", "manifest", "wfdb-beats"], typer.Argument(help="Dataset name.")
    ],
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder holding the dataset [default: $SIGATTN_DATA_DIR].")
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Manifest CSV (path,label[,group][,fs]) for 'manifest'.")
    ] = None,
    scheme: Annotated[Literal["10class", "4class"], typer.Option(help="CWRU label scheme.")] = "10class",
    load: Annotated[list[int] | None, typer.Option(help="CWRU motor load in HP (repeat for several).")] = None,
    window: Annotated[int | None, typer.Option(help="Window length in samples [default: per dataset].")] = None,
    stride: Annotated[int | None, typer.Option(help="Window stride in samples [default: per dataset].")] = None,
    split: Annotated[
        Literal["segment", "by-group", "inter-patient", "random"] | None,
        typer.Option(help="Split strategy [default: per dataset]."),
    ] = None,
    allow_random: Annotated[bool, typer.Option(help="Permit the leaky 'random' split.")] = False,
    cache: Annotated[bool, typer.Option(help="Use the on-disk cache of prepared windows.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Prepare a dataset and print its classes, rate, windows per class per split and the leakage audit."""
    from sigattn.config import DataConfig
    from sigattn.data.prepare import describe

    spec: dict = {"dataset": dataset, "scheme": scheme, "cache": cache}
    if data_dir is not None:
        spec["data_dir"] = str(data_dir)
    if manifest is not None:
        spec["manifest"] = str(manifest)
    if load:
        spec["loads"] = list(load)
    sizes = {k: v for k, v in (("length", window), ("stride", stride)) if v is not None}
    if sizes:
        spec["window"] = sizes
    if split is not None or allow_random:
        spec["split"] = {k: v for k, v in (("strategy", split), ("allow_random", allow_random)) if v is not None}
    with user_errors():
        summary = describe(DataConfig.from_dict(spec))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_summary(summary)


def _print_summary(summary: dict) -> None:
    console = Console()
    console.print(
        f"[bold]{summary['dataset']}[/bold]: {len(summary['classes'])} classes, {summary['fs']:g} Hz, "
        f"windows of {summary['window_length']} samples, input shape {tuple(summary['input_shape'])}"
    )
    table = Table(title="windows per class per split")
    table.add_column("class")
    splits = list(summary["windows"])
    for name in splits:
        table.add_column(name, justify="right")
    for cls in summary["classes"]:
        table.add_row(cls, *(f"{summary['windows'][s][cls]:,}" for s in splits))
    table.add_row("total", *(f"{sum(summary['windows'][s].values()):,}" for s in splits), style="bold")
    console.print(table)
    audit = summary["audit"]
    verdict = "passed" if audit["ok"] else "FAILED"
    console.print(f"leakage audit ({audit['strategy']}): {verdict}")
    for problem in audit["problems"]:
        console.print(f"  - {problem}")


@data_app.command("fetch")
def data_fetch(
    dataset: Annotated[Literal["cwru", "mitdb"], typer.Argument(help="Dataset to download.")],
    to: Annotated[Path, typer.Option(help="Folder to download into (files go to DIR/<dataset>/).")],
    only: Annotated[
        list[str] | None, typer.Option(help="Only this CWRU file number or MIT-BIH record (repeatable).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="A mirror to download from instead of CWRU's server or PhysioNet.")
    ] = None,
) -> None:
    """Download a dataset, verifying each file's SHA-256; rerun to resume or to skip valid files."""
    from sigattn.data.fetch import CWRU_URL, fetch_cwru, fetch_mitdb

    with user_errors():
        if dataset == "cwru":
            report = fetch_cwru(to, base_url=base_url or CWRU_URL, files=only or None)
        else:
            report = fetch_mitdb(to, base_url=base_url, records=only or None)
    typer.echo(report.summary())
    typer.echo(f"export SIGATTN_DATA_DIR={to}")
