"""One run end to end: prepare → fit → evaluate on test → report → log the model.

`train_and_report` is what `sigattn train` and every pipeline cell call. The loop
(`sigattn.train.loop.fit`) only trains and keeps the best checkpoint; this module opens the test
split once, with the best weights, and hands the tracker the test metrics, the confusion and
curve figures, the attention figures and maps, the interpretability scores and the model.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from torch import nn

from sigattn.config import RunConfig
from sigattn.data.prepare import Prepared
from sigattn.evaluate.figures import confusion_figure, curves_figure
from sigattn.evaluate.metrics import flat_metrics
from sigattn.evaluate.predict import evaluate
from sigattn.explain.figures import attention_report
from sigattn.explain.scores import score_windows
from sigattn.models.checkpoint import model_from_checkpoint
from sigattn.train import distributed
from sigattn.train.loop import FitResult, fit
from sigattn.train.tracker import NullTracker, Tracker


def report_test(cfg: RunConfig, prepared: Prepared, result: FitResult, model: nn.Module, tracker: Tracker) -> dict:
    """Evaluate `model` (the best weights) on test and log metrics, report, figures, attention and scores."""
    test_w, step = prepared.splits["test"], max(result.last_epoch, 0)
    batch_size = max(256, cfg.train.batch_size)
    test, probs = evaluate(model, test_w, batch_size=batch_size, precision=result.precision, ecg=cfg.data.ecg)
    tracker.log_metrics(flat_metrics("test", test), step=step)
    report = {"run_name": result.run_name, "best_epoch": result.best_epoch, "monitor": result.monitor,
              "best_value": result.best_value, "checkpoint": result.best_checkpoint.name, **test}  # fmt: skip
    tracker.log_dict(report, "reports/test_report.json")
    title = f"{result.run_name}: test, best epoch {result.best_epoch}"
    tracker.log_figure(confusion_figure(test["confusion"], list(prepared.classes), title), "plots/confusion_test.png")
    tracker.log_figure(curves_figure(result.history, result.run_name, result.monitor), "plots/curves.png")
    figures, maps = attention_report(model, test_w, probs, run_name=result.run_name, block=cfg.model.blocks_label())
    for path, figure in figures.items():  # nothing when the model has no gates (block "none")
        tracker.log_figure(figure, path)
    if maps:
        tracker.log_dict(maps, "attention/maps.json")
    before = cfg.data.beat_samples(prepared.fs)[0] if cfg.data.dataset == "mitdb" else None
    tracker.log_metrics(score_windows(model, test_w, dataset=cfg.data.dataset, before=before), step=step)
    return test


def train_and_report(
    cfg: RunConfig,
    prepared: Prepared,
    tracker: Tracker | None = None,
    *,
    resume: dict[str, Any] | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> FitResult:
    """`fit`, then (on rank 0) `report_test` and the logged model; the result carries the test metrics."""
    tracker = tracker if tracker is not None else NullTracker()
    result = fit(cfg, prepared, tracker, resume=resume, progress=progress, stop=stop)
    if not distributed.current().main:  # rank 0 alone evaluates and logs
        return result
    model, _ = model_from_checkpoint(result.best_checkpoint, result.device)
    metrics = report_test(cfg, prepared, result, model, tracker)
    tracker.log_file(result.best_checkpoint, "checkpoints")
    test = prepared.splits["test"]
    side = None if test.side is None else test.side[:2]
    tracker.log_model(model.to("cpu").eval(), result.best_checkpoint, test.x[:2], side_example=side)
    return dataclasses.replace(result, test_metrics=metrics)
