"""`sigattn data describe | fetch`: prepare and audit a dataset, or download one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from sigattn.cli.root import app, user_errors
from sigattn.errors import SigattnError

data_app = typer.Typer(help="Describe and fetch datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

DataDirOption = Annotated[Path | None, typer.Option(help="Folder holding the dataset [default: $SIGATTN_DATA_DIR].")]
ManifestOption = Annotated[Path | None, typer.Option(help="Manifest CSV (path,label[,group][,fs]) for 'manifest'.")]
LoadOption = Annotated[list[int] | None, typer.Option(help="CWRU motor load in HP (repeat for several).")]


@data_app.command("describe")
def data_describe(
    dataset: Annotated[
        Literal["synthetic", "cwru", "mitdb", "manifest", "wfdb-beats"], typer.Argument(help="Dataset name.")
    ],
    data_dir: DataDirOption = None,
    manifest: ManifestOption = None,
    scheme: Annotated[Literal["10class", "4class"], typer.Option(help="CWRU label scheme.")] = "10class",
    load: LoadOption = None,
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


def _band(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split("-"))
    except ValueError:
        raise SigattnError(f"--band: expected LOW-HIGH in Hz, e.g. 2000-4000; got {text!r}") from None
    if not 0 < low < high:
        raise SigattnError(f"--band: expected 0 < LOW < HIGH in Hz; got {text!r}")
    return low, high


def _bearing(text: str):  # noqa: ANN202 (BearingGeometry, imported lazily)
    from sigattn.data.synthetic import BearingGeometry

    try:
        balls, ball, pitch, angle = text.split(",")
        values = int(balls), float(ball), float(pitch), float(angle)
    except ValueError:
        raise SigattnError(
            f"--bearing: expected BALLS,BALL_DIAMETER,PITCH_DIAMETER,CONTACT_ANGLE_DEG, e.g. 9,0.3126,1.537,0; "
            f"got {text!r}"
        ) from None
    try:
        return BearingGeometry(*values)
    except SigattnError as error:
        raise SigattnError(f"--bearing {text}: {error}") from None


@data_app.command("signature")
def data_signature(
    dataset: Annotated[Literal["cwru", "synthetic", "manifest"], typer.Argument(help="Dataset name.")],
    data_dir: DataDirOption = None,
    manifest: ManifestOption = None,
    load: LoadOption = None,
    rpm: Annotated[
        float | None,
        typer.Option(help="Shaft speed for recordings that carry none (manifest files); CWRU's are in its files."),
    ] = None,
    bearing: Annotated[
        str | None,
        typer.Option(help="Bearing as BALLS,BALL_DIAMETER,PITCH_DIAMETER,CONTACT_ANGLE_DEG [default: SKF 6205]."),
    ] = None,
    band: Annotated[
        list[str] | None,
        typer.Option(help="Envelope band LOW-HIGH in Hz (repeatable) [default: 500-2000, 2000-4000, 4000-5800]."),
    ] = None,
    channel: Annotated[int, typer.Option(min=0, help="Channel of multi-channel recordings.")] = 0,
    margin: Annotated[
        float, typer.Option(min=1.0, help="A recording reads as a fault when its rate leads the next by this factor.")
    ] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Squared-envelope check of bearing recordings: how far BPFO, BPFI and 2 x BSF stand out in each
    band, and which fault the envelope points to."""
    from sigattn.config import DataConfig
    from sigattn.data.fault_signature import BANDS_HZ, recording_signatures
    from sigattn.data.prepare import load_recordings
    from sigattn.data.synthetic import SKF6205

    spec: dict = {"dataset": dataset, "cache": False}
    for key, value in (("data_dir", data_dir), ("manifest", manifest)):
        if value is not None:
            spec[key] = str(value)
    if load:
        spec["loads"] = list(load)
    with user_errors():
        geometry = SKF6205 if bearing is None else _bearing(bearing)
        bands = tuple(_band(b) for b in band) if band else BANDS_HZ
        recordings, _ = load_recordings(DataConfig.from_dict(spec))
        rows = recording_signatures(recordings, rpm=rpm, geometry=geometry, bands=bands, channel=channel, margin=margin)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    _print_signatures(rows, margin)


def _print_signatures(rows: list[dict], margin: float) -> None:
    table = Table(
        title=f"squared-envelope prominence BPFO/BPFI/2xBSF per band (Hz); reads as a fault when margin >= {margin:g}"
    )
    for name in ("recording", "label", "rpm"):
        table.add_column(name)
    bands = list(rows[0]["prominence"]) if rows else []
    for name in bands:
        table.add_column(name, justify="right")
    table.add_column("points to")
    table.add_column("margin", justify="right")
    table.add_column("reads as")
    for row in rows:
        cells = ["/".join(f"{v:.3g}" for v in row["prominence"][b].values()) for b in bands]
        table.add_row(Path(row["recording"]).name, row["label"], f"{row['rpm']:.0f}", *cells, row["points_to"],
                      f"{row['margin']:.2f}", row["reads_as"])  # fmt: skip
    Console(width=max(Console().width, 120)).print(table)
