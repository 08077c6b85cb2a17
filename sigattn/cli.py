"""The `sigattn` command line: parse, call one library function, print the result."""

from __future__ import annotations

import errno
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from sigattn.errors import SigattnError

app = typer.Typer(
    help="Attention-augmented 1D CNNs for vibration and ECG classification.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help texts contain literal [default: ...] brackets
)


_STATE = {"debug": False}  # set by the root callback on every invocation


def _print_version(value: bool) -> None:
    if value:
        from sigattn import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show the full traceback instead of one line.")
    ] = False,
) -> None:
    """Attention-augmented 1D CNNs for vibration and ECG classification."""
    _STATE["debug"] = debug


_OS_HINTS = {
    errno.ENOENT: "expected an existing file or folder",
    errno.EACCES: "expected a path this user may read and write",
    errno.EPERM: "expected a path this user may read and write",
    errno.ENOSPC: "free some space or choose another folder",
    errno.EDQUOT: "free some space or choose another folder",
    errno.EROFS: "expected a writable file system",
    errno.EISDIR: "expected a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file; expected a folder",
    errno.EEXIST: "expected a folder; a file of that name exists",
}


def _one_line(error: Exception) -> str:
    """`<file>: <what>; <expected>` for an OSError, the message of a SigattnError, else type and message."""
    if isinstance(error, SigattnError):
        text = str(error)
    elif isinstance(error, OSError):
        what = error.strerror or str(error) or type(error).__name__
        hint = _OS_HINTS.get(error.errno or 0)
        text = f"{error.filename}: {what}" if error.filename else what
        text += f"; {hint}" if hint else ""
    else:
        text = f"{type(error).__name__}: {error} (run with --debug for the traceback)"
    return " ".join(text.split())


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a SigattnError, an OSError (disk full, permissions) or a ValueError from the libraries into
    one red line on stderr and exit code 1; with --debug, let it raise with its traceback."""
    try:
        yield
    except (OSError, ValueError) as error:
        if _STATE["debug"]:
            raise
        typer.secho(f"Error: {_one_line(error)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None


def _positive(value: int) -> int:
    if value < 1:
        raise typer.BadParameter(f"expected a positive integer; got {value}")
    return value


@app.command()
def blocks(
    channels: Annotated[int, typer.Option(callback=_positive, help="Channels C of the (N, C, L) input.")] = 64,
    length: Annotated[int, typer.Option(callback=_positive, help="Length L of the input, in samples.")] = 1024,
    batch: Annotated[int, typer.Option(callback=_positive, help="Batch size N used for timing.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print each attention block's parameters, FLOPs and forward time added over `none`."""
    from sigattn.costs import block_costs

    with _user_errors():
        rows = block_costs(channels, length, batch)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    table = Table(title=f"Attention blocks on input ({batch}, {channels}, {length}), CPU forward")
    for column in ("block", "params added", "FLOPs added", "forward time added"):
        table.add_column(column, justify="left" if column == "block" else "right")
    for row in rows:
        table.add_row(row.block, f"{row.params:,}", f"{row.flops:,}", f"{row.added_us:,.1f} µs")
    console = Console()
    console.print(table)
    console.print("FLOPs: torch.utils.flop_counter (convolutions and matmuls; elementwise ops not counted).")


data_app = typer.Typer(help="Describe and fetch datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("describe")
def data_describe(
    dataset: Annotated[Literal["synthetic", "cwru", "mitdb", "manifest"], typer.Argument(help="Dataset name.")],
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
    with _user_errors():
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

    with _user_errors():
        if dataset == "cwru":
            report = fetch_cwru(to, base_url=base_url or CWRU_URL, files=only or None)
        else:
            report = fetch_mitdb(to, base_url=base_url, records=only or None)
    typer.echo(report.summary())
    typer.echo(f"export SIGATTN_DATA_DIR={to}")


@contextmanager
def _interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so a killed run saves its checkpoint and ends KILLED."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _overrides(pairs: list[tuple[str, object]], sets: list[str] | None) -> list[str]:
    """Explicit options as `key=value` overrides, then the `--set` ones (which win)."""
    return [f"{key}={value}" for key, value in pairs if value is not None] + list(sets or [])


SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config key, e.g. --set train.epochs=30 (repeatable).")
]


def _positive_rate(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"expected a positive rate in Hz; got {value}")
    return value


FsOption = Annotated[
    float | None,
    typer.Option(callback=_positive_rate, help="Sampling rate of inputs that do not carry one (CSV/NPY/MAT), in Hz."),
]
TrackingUriOption = Annotated[
    str | None, typer.Option(help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db].")
]


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Argument(help="Run config (YAML) [default: the synthetic quickstart].")
    ] = None,
    set_: SetOption = None,
    dataset: Annotated[str | None, typer.Option(help="data.dataset: synthetic, cwru, mitdb or manifest.")] = None,
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
    from sigattn.inference import check_writable_folder
    from sigattn.training import fit

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
    with _user_errors():
        from contextlib import nullcontext

        from sigattn import distributed, tracking
        from sigattn.tracker import NullTracker

        checkpoint = _resume_checkpoint(resume, tracking_uri) if resume else None
        base = checkpoint["meta"]["config"] if checkpoint and config is None else config
        cfg = load_config(base, _overrides([*pairs, ("train.quiet", quiet or None)], set_))
        check_writable_folder(Path(cfg.train.checkpoint_dir), "train.checkpoint_dir")
        prepared = prepare(cfg.data)
        _check_model(cfg, prepared)
        if offline and distributed.env_rank() == 0:
            typer.secho("offline: logging to the local store ./mlflow.db", err=True)
        tracker = None
        try:
            with (
                _interrupts_as_keyboard_interrupt(),
                distributed.process_group(cfg.train.device) as ranks,  # under torchrun; else one process
                tracking.tracked_run(
                    cfg.tracking, run_name=run_name(cfg, len(prepared.classes)), resume_run_id=resume, offline=offline
                )
                if ranks.main
                else nullcontext(NullTracker()) as tracker,
            ):
                result = fit(cfg, prepared, tracker, resume=checkpoint, progress=not cfg.train.quiet)
        except KeyboardInterrupt:
            hint = f"; continue with `sigattn train --resume {tracker.run_id}`" if tracker and tracker.run_id else ""
            typer.secho(f"interrupted: the last checkpoint is saved{hint}", err=True)
            raise typer.Exit(code=130) from None
    if not ranks.main:  # rank 0 reports the run
        return
    metrics = result.test_metrics
    typer.echo(f"run {result.run_id} ({result.run_name})")
    typer.echo(f"best {result.monitor} = {result.best_value:.4f} at epoch {result.best_epoch}")
    typer.echo(
        f"test accuracy = {metrics['accuracy']:.4f}, macro-F1 = {metrics['macro_f1']:.4f}, "
        f"balanced accuracy = {metrics['balanced_accuracy']:.4f}"
    )


def _check_model(cfg, prepared) -> None:
    """Build the model `fit` will build, once, so a model config that cannot work fails before the run starts."""
    from sigattn.checkpoint import build_model
    from sigattn.training import bundle_meta

    meta = bundle_meta(cfg, prepared)
    try:
        build_model(meta["model"], meta["in_channels"], len(meta["classes"]))
    except SigattnError as error:
        m = cfg.model
        widths = "default" if m.widths is None else list(m.widths)
        raise SigattnError(f"model (backbone {m.backbone}, widths {widths}, options {m.options}): {error}") from None


@app.command("run")
def run_pipeline_command(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline (YAML): a base config, a grid and/or cells.")],
    jobs: Annotated[int, typer.Option(callback=_positive, help="Cells trained at once, in worker processes.")] = 1,
    set_: SetOption = None,
    tracking_uri: TrackingUriOption = None,
    out: Annotated[Path | None, typer.Option(help="Folder for summary.md/.csv [default: results/<name>/].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the expanded cells; train nothing.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="Run only these values of a grid key, e.g. --grid 'train.seed=[0]' (repeatable)."),
    ] = None,
) -> None:
    """Train every cell of a pipeline as child runs of one MLflow run, skipping cells finished earlier."""
    from sigattn.config import parse_override
    from sigattn.pipeline import load_pipeline, run_pipeline

    def show(kind: str, value) -> None:
        if kind == "parent":
            typer.echo(f"pipeline run {value}")
        elif value.status == "skipped":
            typer.echo(f"{value.cell.title}: skipped (finished earlier)")
        elif value.status == "failed":
            typer.secho(f"{value.cell.title}: FAILED: {value.error}", err=True, fg=typer.colors.RED)
        else:
            m = value.metrics
            typer.echo(
                f"{value.cell.title}: run {value.run_id} test accuracy = {m['accuracy']:.4f}, "
                f"macro-F1 = {m['macro_f1']:.4f}"
            )

    with _user_errors():
        only = dict(parse_override(g, "--grid") for g in grid or [])
        if dry_run:
            spec = load_pipeline(pipeline, overrides=set_ or [], tracking_uri=tracking_uri, only=only)
            for i, cell in enumerate(spec.cells, 1):
                typer.echo(f"{i:3d}  {cell.key}")
            typer.echo(f"{len(spec.cells)} cells in pipeline {spec.name}; nothing was run (--dry-run)")
            return
        if out is not None:
            from sigattn.inference import check_writable_folder

            check_writable_folder(out, "--out")
        with _interrupts_as_keyboard_interrupt():
            try:
                result = run_pipeline(
                    pipeline,
                    jobs=jobs,
                    tracking_uri=tracking_uri,
                    overrides=set_ or [],
                    progress=not quiet,
                    out_dir=out,
                    only=only,
                    on_event=show,
                )
            except KeyboardInterrupt:
                typer.secho("interrupted: rerun the same command to continue with the unfinished cells", err=True)
                raise typer.Exit(code=130) from None
        typer.echo(result.markdown, nl=False)
        typer.echo(f"wrote summary.md and summary.csv to {result.out_dir}")
        if result.failed:
            raise SigattnError(f"{len(result.failed)} of {len(result.outcomes)} cells failed; rerun to retry them")


def _resume_checkpoint(run_id: str, tracking_uri: str | None) -> dict:
    """The last checkpoint of run `run_id`: the local copy if there is one, else the logged one."""
    from sigattn.checkpoint import load_checkpoint
    from sigattn.tracking import resolve_checkpoint

    local = Path("checkpoints") / run_id / "last.pt"
    path = local if local.is_file() else resolve_checkpoint(f"runs:/{run_id}/checkpoints/last.pt", tracking_uri)
    return load_checkpoint(path)


def _load_model(model: str, tracking_uri: str | None):
    """(model, meta, training run id or None) for a run id, runs:/ or models:/ URI, or a checkpoint file."""
    from sigattn.checkpoint import model_from_checkpoint
    from sigattn.tracking import resolve_checkpoint, source_run_id

    net, meta = model_from_checkpoint(resolve_checkpoint(model, tracking_uri))
    return net, meta, source_run_id(model, tracking_uri)


@app.command("eval")
def evaluate_model(
    model: Annotated[str, typer.Argument(help="Run id, runs:/<id>, models:/<name>/<version> or a checkpoint file.")],
    config: Annotated[
        Path | None, typer.Option(help="YAML whose data section replaces the model's (e.g. another load).")
    ] = None,
    set_: SetOption = None,
    data_dir: Annotated[Path | None, typer.Option(help="data.data_dir [default: $SIGATTN_DATA_DIR].")] = None,
    split: Annotated[Literal["test", "val", "train"], typer.Option(help="Which split to evaluate.")] = "test",
    tracking_uri: TrackingUriOption = None,
    log: Annotated[bool, typer.Option(help="Log an evaluation run linked to the training run.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Evaluate a trained model on its own test split, or on other data (cross-load, cross-database)."""
    from sigattn.config import load_config
    from sigattn.data.prepare import prepare
    from sigattn.training import evaluate

    with _user_errors():
        net, meta, source_run = _load_model(model, tracking_uri)
        base = dict(meta["config"])
        if config is not None:
            base["data"] = load_config(config).to_dict()["data"]
        pairs = [("data.data_dir", data_dir), ("tracking.uri", tracking_uri)]
        cfg = load_config(base, _overrides(pairs, set_))
        prepared = prepare(cfg.data)
        if list(prepared.classes) != list(meta["classes"]):
            raise SigattnError(f"the data has classes {list(prepared.classes)}; the model predicts {meta['classes']}")
        metrics, _ = evaluate(net, prepared.splits[split])
        if log:
            _log_evaluation(cfg, metrics, split, prepared, source_run)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    typer.echo(
        f"{split}: accuracy = {metrics['accuracy']:.4f}, macro-F1 = {metrics['macro_f1']:.4f}, "
        f"balanced accuracy = {metrics['balanced_accuracy']:.4f} on {metrics['n']} windows"
    )


def _log_evaluation(cfg, metrics: dict, split: str, prepared, source_run: str | None) -> None:
    from sigattn import tracking
    from sigattn.metrics import flat_metrics
    from sigattn.plots import confusion_figure
    from sigattn.training import dataset_digest

    name = f"eval/{cfg.data.dataset}-{len(prepared.classes)}c/{cfg.model.blocks_label()}"
    with tracking.tracked_run(cfg.tracking, run_name=name) as tracker:
        if source_run:
            tracking.link_evaluation(tracker, source_run)
        tracker.set_tags({"dataset": cfg.data.dataset, "block": cfg.model.blocks_label(), "sigattn.kind": "eval"})
        tracker.log_dataset(cfg.data.dataset, dataset_digest(prepared), prepared.summary(), "evaluation")
        tracker.log_metrics(flat_metrics(f"eval_{split}", metrics), step=0)
        tracker.log_dict(metrics, f"reports/eval_{split}_report.json")
        tracker.log_figure(confusion_figure(metrics["confusion"], prepared.classes, name), "plots/confusion_eval.png")
    typer.echo(f"evaluation run {tracker.run_id}" + (f" (of run {source_run})" if source_run else ""))


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="Run id, runs:/<id>, models:/<name>/<version> or a checkpoint file.")],
    inputs: Annotated[list[str], typer.Argument(help="CSV/NPY/MAT[#key]/WFDB files or folders of them.")],
    out: Annotated[str, typer.Option(help="Output file (.csv or .json), or - for stdout.")] = "-",
    fmt: Annotated[
        Literal["csv", "json"] | None, typer.Option("--format", help="Output format [default: from --out, else csv].")
    ] = None,
    fs: FsOption = None,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Predict every window of the input files with the model's own transforms and windowing."""
    from sigattn.inference import format_predictions, predict_files, write_atomically

    fmt = fmt or ("json" if out.lower().endswith(".json") else "csv")
    with _user_errors():
        net, meta, _ = _load_model(model, tracking_uri)
        predictions = predict_files(net, meta, inputs, fs=fs)
        text = format_predictions(predictions, fmt)
        if out == "-":
            typer.echo(text, nl=False)
        else:
            write_atomically(Path(out), text)
    for path in predictions.skipped:
        typer.secho(f"skipped {path}: not a signal file", err=True)
    if out != "-":
        typer.echo(f"wrote {len(predictions.rows)} predictions to {out}", err=True)


@app.command()
def explain(
    model: Annotated[str, typer.Argument(help="Run id, runs:/<id>, models:/<name>/<version> or a checkpoint file.")],
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Files or folders to explain [default: the model's own data split].")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the overlay PNGs and maps.json.")] = Path("explain"),
    class_name: Annotated[
        str | None, typer.Option("--class", help="Only this class (true class for a split, predicted for files).")
    ] = None,
    limit: Annotated[int, typer.Option(callback=_positive, help="At most this many windows per class.")] = 4,
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
    from sigattn.explain import Selection, explain_windows
    from sigattn.inference import check_writable_folder, input_files, staged_folder, windows_for_model
    from sigattn.interpret import score_windows

    if scores and inputs:
        raise typer.BadParameter("scores need labelled windows: leave out INPUT to use the model's data split")
    selection = Selection(class_name, limit, stage)
    skipped: list[str] = []
    with _user_errors():
        check_writable_folder(out, "--out")
        net, meta, _ = _load_model(model, tracking_uri)
        cfg = load_config(meta["config"])
        title = run_name(cfg, len(meta["classes"]))
        if inputs:
            files, skipped = input_files(inputs)
            parts, names = [], []
            for name in files:
                path, _, key = name.partition("#")
                signal, file_fs = read_signal(Path(path), key=key or None)
                x, starts = windows_for_model(signal, file_fs or fs, meta, name)
                parts.append(x)
                names += [f"{Path(path).name}@{start}" for start in starts]
            x, labels = np.concatenate(parts), None
        else:
            prepared = prepare(cfg.data)
            windows = prepared.splits[split]
            x, labels = windows.x, windows.y
            names = [
                f"{Path(str(src)).stem}@{start}" for src, start in zip(windows.sources, windows.starts, strict=True)
            ]
        with staged_folder(out, "--out") as stage:  # files reach --out only if everything succeeds
            written = explain_windows(net, x, labels, names, meta, stage, selection, title=title)
            results = None
            if scores:
                before = (meta.get("beat") or {}).get("before")
                results = score_windows(net, windows, dataset=meta["dataset"], before=before)
    for path in skipped:
        typer.secho(f"skipped {path}: not a signal file", err=True)
    typer.echo(f"wrote {len(written) - 1} overlay plot(s) and maps.json to {out}")
    if results is not None:
        table = Table(title=f"interpretability scores ({split} split)")
        table.add_column("score")
        table.add_column("value", justify="right")
        for key, value in results.items():
            table.add_row(key, f"{value:.4f}")
        Console().print(table)


def main() -> None:
    """The `sigattn` command: as `app`, but a usage error (exit 2) is one line on stderr too."""
    # typer bundles its own click; its exception classes are reached through a public one
    found = {c.__name__: c for c in typer.BadParameter.__mro__}
    usage_error, click_exception = found["UsageError"], found["ClickException"]
    try:
        code = app(prog_name="sigattn", standalone_mode=False)
    except usage_error as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `sigattn`: the help, as before
            typer.echo(error.format_message())
            raise SystemExit(2) from None
        typer.secho(f"Error: {' '.join(error.format_message().split())}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None
    except click_exception as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    except typer.Abort:
        typer.secho("Aborted.", err=True)
        raise SystemExit(130) from None
    raise SystemExit(code if isinstance(code, int) else 0)
