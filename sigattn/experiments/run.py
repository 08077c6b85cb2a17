"""One run end to end: prepare → fit → evaluate on test → report → log the model.

`train_and_report` is what `sigattn train` and every pipeline cell call. The loop
(`sigattn.train.loop.fit`) only trains and keeps the best checkpoint; this module opens the test
split once, with the best weights (or, with `train.report_split` val, scores the val split and
never reads test), and hands the tracker the test metrics, the confusion and
curve figures, the attention figures and maps, the interpretability scores and the model.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from torch import nn

from sigattn.config import RunConfig
from sigattn.data.prepare import Prepared
from sigattn.data.side import rr_side_features
from sigattn.evaluate.adapt import ADAPTED_PREFIX, adapt_batchnorm, batchnorm_layers
from sigattn.evaluate.figures import confusion_figure, curves_figure
from sigattn.evaluate.metrics import flat_metrics
from sigattn.evaluate.predict import evaluate
from sigattn.explain.axis import input_axis
from sigattn.explain.figures import attention_report
from sigattn.explain.scores import score_windows
from sigattn.models.checkpoint import model_from_checkpoint
from sigattn.train import distributed
from sigattn.train.loop import FitResult, fit
from sigattn.train.saturation import saturated
from sigattn.train.tracker import NullTracker, Tracker


def report_split(cfg: RunConfig, prepared: Prepared, result: FitResult, model: nn.Module, tracker: Tracker) -> dict:
    """Score `model` (the best weights) on `train.report_split` (test, or val for model selection) and log
    metrics, report, figures, attention and scores under that split's name."""
    split, prefix = cfg.train.report_split, cfg.train.report_prefix
    windows, step = prepared.splits[split], max(result.last_epoch, 0)
    batch_size = max(256, cfg.train.batch_size)
    scores, probs = evaluate(model, windows, batch_size=batch_size, precision=result.precision, ecg=cfg.data.ecg)
    val_saturated = saturated(result.history, result.monitor)
    tracker.log_metrics({**flat_metrics(prefix, scores), "val_saturated": float(val_saturated)}, step=step)
    if cfg.train.adapt_bn and batchnorm_layers(model):  # scored apart: AdaBN reads the split's windows
        adapted = adapt_batchnorm(model, windows.x, side=windows.side, batch_size=batch_size)
        scores[ADAPTED_PREFIX], _ = evaluate(adapted, windows, batch_size=batch_size, ecg=cfg.data.ecg)
        tracker.log_metrics(flat_metrics(f"{prefix}_{ADAPTED_PREFIX}", scores[ADAPTED_PREFIX]), step=step)
    report = {"run_name": result.run_name, "split": split, "best_epoch": result.best_epoch, "monitor": result.monitor,
              "best_value": result.best_value, "val_saturated": val_saturated,
              "checkpoint": result.best_checkpoint.name, **scores}  # fmt: skip
    tracker.log_dict(report, f"reports/{split}_report.json")
    title = f"{result.run_name}: {split}, best epoch {result.best_epoch}"
    figure = confusion_figure(scores["confusion"], list(prepared.classes), title)
    tracker.log_figure(figure, f"plots/confusion_{split}.png")
    tracker.log_figure(curves_figure(result.history, result.run_name, result.monitor), "plots/curves.png")
    before = cfg.data.beat_samples(prepared.fs)[0] if cfg.data.beats else None
    axis = input_axis(cfg.data.transforms, prepared.fs, prepared.window_length)  # time, or a spectrum's bins
    explained = score_windows(model, windows, dataset=cfg.data.dataset, before=before, axis=axis)  # for the overlays
    figures, maps = attention_report(model, windows, probs, run_name=result.run_name, block=cfg.model.blocks_label(),
                                     scores=explained, r_index=before, dataset=cfg.data.dataset, axis=axis,
                                     per_class=cfg.tracking.overlays_per_class)  # fmt: skip
    for path, figure in figures.items():  # IG overlays even when the model has no gates (block "none")
        tracker.log_figure(figure, path)
    if maps:
        tracker.log_dict(maps, "attention/maps.json")
    tracker.log_metrics(explained, step=step)
    return scores


def train_and_report(
    cfg: RunConfig,
    prepared: Prepared,
    tracker: Tracker | None = None,
    *,
    resume: dict[str, Any] | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> FitResult:
    """`fit`, then (on rank 0) `report_split` and the logged model; the result carries the reported metrics
    (test, or val with `train.report_split` val: the test split is then never read)."""
    tracker = tracker if tracker is not None else NullTracker()
    result = fit(cfg, prepared, tracker, resume=resume, progress=progress, stop=stop)
    if not distributed.current().main:  # rank 0 alone evaluates and logs
        return result
    model, _ = model_from_checkpoint(result.best_checkpoint, result.device)
    metrics = report_split(cfg, prepared, result, model, tracker)
    tracker.log_file(result.best_checkpoint, "checkpoints")
    example = prepared.splits[cfg.train.report_split]
    side = None if example.side is None else example.side[:2]
    if side is not None and example.features is not None:  # raw RR features, as a client of the served model sends
        side = rr_side_features(example.features[:2])
    tracker.log_model(model.to("cpu").eval(), result.best_checkpoint, example.x[:2], side_example=side)
    return dataclasses.replace(result, test_metrics=metrics)
