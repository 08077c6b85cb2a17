"""`sigattn eval`: score a trained model, or the mean of several, on its own test split or on any data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from sigattn.cli.options import SetOption, TrackingUriOption, load_model, overrides, scores_line
from sigattn.cli.root import app, user_errors
from sigattn.errors import SigattnError


@app.command("eval")
def evaluate_model(
    models: Annotated[
        list[str],
        typer.Argument(
            help="Run id, runs:/<id>, models:/<name>/<version> or a checkpoint file; several: an ensemble "
            "that averages their class probabilities (the first one's data settings are used)."
        ),
    ],
    config: Annotated[
        Path | None, typer.Option(help="YAML whose data section replaces the model's (e.g. another load).")
    ] = None,
    set_: SetOption = None,
    data_dir: Annotated[Path | None, typer.Option(help="data.data_dir [default: $SIGATTN_DATA_DIR].")] = None,
    split: Annotated[
        Literal["test", "val", "train", "all"], typer.Option(help="Which split to evaluate (all: every split joined).")
    ] = "test",
    tracking_uri: TrackingUriOption = None,
    log: Annotated[bool, typer.Option(help="Log an evaluation run linked to the training run.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    adapt_bn: Annotated[
        bool,
        typer.Option(
            "--adapt-bn",
            help="AdaBN: re-estimate BatchNorm statistics on the evaluated windows (unlabelled) first. "
            "Uses target data: domain adaptation, not generalisation.",
        ),
    ] = False,
) -> None:
    """Evaluate a trained model (or an ensemble) on its own test split, or on other data (cross-load,
    cross-database)."""
    from sigattn.config import load_config
    from sigattn.data.prepare import prepare
    from sigattn.evaluate.adapt import ADAPTED_LABEL, ADAPTED_PREFIX, adapt_batchnorm
    from sigattn.evaluate.beats import evaluation_split, needs_model_rate
    from sigattn.evaluate.predict import evaluate_ensemble

    with user_errors():
        loaded = [load_model(model, tracking_uri) for model in models]
        _, meta, source_run = loaded[0]
        for name, (_, other, _) in zip(models[1:], loaded[1:], strict=True):
            _check_member(name, other, meta, models[0])
        base = dict(meta.config)
        if config is not None:
            base["data"] = load_config(config).to_dict()["data"]
        pairs = [("data.data_dir", data_dir), ("tracking.uri", tracking_uri)]
        given = overrides(pairs, set_)
        if any(o.startswith("data.dataset=") for o in given):  # another dataset: its own default split
            base["data"] = {k: v for k, v in base["data"].items() if k != "split"}
        cfg = load_config(base, given)
        if needs_model_rate(meta, cfg.data):  # records at any rate: resample them to the model's
            cfg = load_config(base, [f"data.beat_fs={meta.fs:g}", *given])
        prepared = prepare(cfg.data)
        if list(prepared.classes) != list(meta.classes):
            expected = list(meta.classes)
            raise SigattnError(f"the data has classes {list(prepared.classes)}; the model predicts {expected}")
        members = [(net, evaluation_split(prepared.splits, split, m)) for net, m, _ in loaded]
        if adapt_bn:
            members = [(adapt_batchnorm(net, w.x, side=w.side), w) for net, w in members]
            typer.secho(f"AdaBN: BatchNorm statistics re-estimated on the {len(members[0][1])} {split} windows, "
                        "labels unread (this uses target data)", err=True)  # fmt: skip
        metrics, _ = evaluate_ensemble(members, ecg=cfg.data.ecg)
        if log:
            sources = [run for _, _, run in loaded if run]
            _log_evaluation(cfg, metrics, f"{ADAPTED_PREFIX}_{split}" if adapt_bn else split, prepared, sources)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    what = f"{split} {ADAPTED_LABEL}" if adapt_bn else f"{split}:"
    ensemble = f" (mean of {len(models)} models)" if len(models) > 1 else ""
    typer.echo(f"{scores_line(what, metrics)} on {metrics['n']} windows{ensemble}")


def _check_member(name: str, meta, first, first_name: str) -> None:
    """An ensemble member must predict the same classes from the same input as the first model."""
    for what, ours, theirs in [
        ("classes", list(meta.classes), list(first.classes)),
        ("input (channels, samples)", (meta.in_channels, meta.window_length), (first.in_channels, first.window_length)),
        ("sampling rate", meta.fs, first.fs),
    ]:
        if ours != theirs:
            raise SigattnError(f"ensemble member {name}: {what} {ours}, but {first_name} has {theirs}")


def _log_evaluation(cfg, metrics: dict, split: str, prepared, source_runs: list[str]) -> None:
    from sigattn import tracking
    from sigattn.evaluate.figures import confusion_figure
    from sigattn.evaluate.metrics import flat_metrics
    from sigattn.train.bundle import dataset_digest

    name = f"eval/{cfg.data.dataset}-{len(prepared.classes)}c/{cfg.model.blocks_label()}"
    with tracking.tracked_run(cfg.tracking, run_name=name) as tracker:
        if source_runs:
            tracking.link_evaluation(tracker, source_runs[0])
        tags = {"dataset": cfg.data.dataset, "block": cfg.model.blocks_label(), "sigattn.kind": "eval"}
        tracker.set_tags(tags | ({"sigattn.ensemble": ",".join(source_runs)} if len(source_runs) > 1 else {}))
        tracker.log_dataset(cfg.data.dataset, dataset_digest(prepared), prepared.summary(), "evaluation")
        tracker.log_metrics(flat_metrics(f"eval_{split}", metrics), step=0)
        tracker.log_dict(metrics, f"reports/eval_{split}_report.json")
        tracker.log_figure(confusion_figure(metrics["confusion"], prepared.classes, name), "plots/confusion_eval.png")
    of = f" (of run {', '.join(source_runs)})" if source_runs else ""
    typer.echo(f"evaluation run {tracker.run_id}{of}")
