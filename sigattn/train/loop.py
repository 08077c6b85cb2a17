"""The training loop: seeded, resumable, early-stopping, and reporting to a `Tracker`.

`fit` trains on the train split, picks the best epoch on `train.monitor` over the val split and
writes best.pt and last.pt; it never looks at the test split (that is `sigattn.experiments.run`).
Batches come from `sigattn.train.batching`, the step's compilation is `sigattn.train.compiling`. On
CPU the same seed and config give the same history, and a resumed run continues exactly where its
last checkpoint was. Under torchrun (`sigattn.train.distributed`) each process trains on its share
of every batch through DistributedDataParallel; rank 0 alone validates, logs and writes checkpoints.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sigattn.config import RunConfig, run_name
from sigattn.data.prepare import Prepared
from sigattn.data.types import SPLITS
from sigattn.device import autocast, resolve_precision, seed_everything, select_device
from sigattn.errors import SigattnError
from sigattn.evaluate.metrics import flat_metrics
from sigattn.evaluate.predict import evaluate
from sigattn.models.checkpoint import model_for, save_checkpoint
from sigattn.train import distributed
from sigattn.train.augment import Augmenter
from sigattn.train.batching import batch_source, default_workers, epoch_batches
from sigattn.train.bundle import bundle_meta, dataset_digest, git_commit
from sigattn.train.compiling import StepModule
from sigattn.train.losses import make_criterion
from sigattn.train.optim import make_optimizer, make_scheduler
from sigattn.train.progress import check_stop, progress_bars
from sigattn.train.resume import check_resume, rng_state, set_rng_state
from sigattn.train.tracker import NullTracker, Tracker


@dataclass(frozen=True)
class FitResult:
    """What a finished `fit` produced; `test_metrics` (the scores of `train.report_split`, test unless
    it is val) are filled in by `sigattn.experiments.run`."""

    run_id: str | None
    run_name: str
    best_epoch: int
    monitor: str
    best_value: float
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    device: str = "cpu"
    precision: str = "fp32"
    data_path: str = "device"
    world_size: int = 1
    last_epoch: int = -1
    test_metrics: dict[str, Any] = field(default_factory=dict)


def _improved(value: float, best: float | None, monitor: str) -> bool:
    return best is None or (value < best if monitor == "val_loss" else value > best)


class _Run:
    """One run's model, optimiser, schedule, batch source and mutable state (all saved in last.pt)."""

    def __init__(self, cfg: RunConfig, prepared: Prepared, tracker: Tracker, device: torch.device, precision: str):
        t = self.t = cfg.train
        self.cfg, self.tracker, self.device, self.precision = cfg, tracker, device, precision
        self.ranks = r = distributed.current()
        train_w, self.val_w, self.test_w = (prepared.splits[s] for s in SPLITS)
        self.meta = bundle_meta(cfg, prepared)
        self.classes = list(self.meta.classes)
        seed_everything(t.seed)
        self.model = model_for(self.meta).to(device)
        step_model: nn.Module = self.model
        if r.active:  # the same initial weights everywhere, then each process its own dropout masks
            torch.manual_seed(t.seed + 7919 * r.rank)
            ids = [device.index] if device.type == "cuda" else None
            step_model = DistributedDataParallel(self.model, device_ids=ids)
        planned = (t.epochs, len(train_w), train_w.x.shape[-1])
        self.step_model = StepModule(step_model, t.compile, planned, device.type)
        self.generator = torch.Generator().manual_seed(t.seed)  # the same batch order on every process
        store = prepared.cache_path.with_suffix(".train") if prepared.cache_path is not None else None
        self.batches, self.data_reason = batch_source(
            t.data_path, train_w.x, train_w.y, device, store=store, workers=default_workers(r.world), side=train_w.side
        )
        self.n_train, self.windows_per_s = len(train_w), 0.0
        counts = np.bincount(train_w.y, minlength=len(self.classes))
        self.sample_weights = None
        if t.balance == "sampler":
            self.sample_weights = torch.from_numpy(1.0 / np.maximum(counts, 1)[train_w.y])
        self.criterion, self.augment = make_criterion(t, counts, device), Augmenter(t.augment, train_w.fs, r.rank)
        self.steps = len(epoch_batches(self.n_train, t.batch_size, torch.Generator(), None, world=r.world))
        self.optimizer = make_optimizer(self.model, t, device)
        self.scheduler = make_scheduler(self.optimizer, t, self.steps)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.epoch, self.history, self.bad_epochs, self.stopped_early = -1, [], 0, False
        self.best: dict[str, Any] = {"metric": t.monitor, "value": None, "epoch": -1}
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.epoch_start: tuple[dict[str, Any] | None, torch.Tensor] | None = None  # set while an epoch runs
        self.name = cfg.tracking.run_name or run_name(cfg, len(self.classes))
        stamp = f"{datetime.now():%Y%m%d-%H%M%S-%f}-{re.sub(r'[^0-9A-Za-z.-]+', '-', self.name)}"
        folder = Path(t.checkpoint_dir).expanduser() / (tracker.run_id or stamp)
        self.best_path, self.last_path = folder / "best.pt", folder / "last.pt"

    def restore(self, resume: dict[str, Any]) -> None:
        """Continue from a last checkpoint; its best weights are written to this run's best.pt."""
        self.best_weights = resume.get("best_state_dict")
        if self.best_weights is not None and self.ranks.main:  # the run folder may be new
            self.model.load_state_dict(self.best_weights)
            save_checkpoint(self.best_path, model=self.model, meta=self.meta, epoch=int(resume["best"]["epoch"]))
        self.model.load_state_dict(resume["state_dict"])
        self.optimizer.load_state_dict(resume["optimizer"])
        if self.scheduler is not None and resume.get("scheduler"):
            self.scheduler.load_state_dict(resume["scheduler"])
        if resume.get("scaler"):
            self.scaler.load_state_dict(resume["scaler"])
        self.epoch, self.best = int(resume["epoch"]), dict(resume["best"])
        self.history = [dict(h) for h in resume["history"] if h["epoch"] <= self.epoch]
        self.bad_epochs, self.stopped_early = int(resume["bad_epochs"]), bool(resume["stopped_early"])
        set_rng_state(resume["rng"], self.generator)

    def resolved(self) -> dict[str, Any]:
        """What the config leaves open, as resolved for this run."""
        return {"device": str(self.device), "precision": self.precision, "classes": self.classes,
                "run_name": self.name, "in_channels": self.meta.in_channels, "fs": self.meta.fs,
                "window_length": self.meta.window_length, "steps_per_epoch": self.steps,
                "n_params": sum(p.numel() for p in self.model.parameters()), "data_path": self.batches.kind,
                "data_path_reason": self.data_reason, "data_workers": self.batches.workers,
                "world_size": self.ranks.world}  # fmt: skip

    def save_last(self, *, interrupted: bool = False) -> None:
        """Write last.pt. After an interruption the schedule and batch order are those of the
        interrupted epoch's start, so resuming repeats that epoch whole (onecycle ends on its total)."""
        if not self.ranks.main:
            return
        scheduler = self.scheduler.state_dict() if self.scheduler is not None else None
        rng = rng_state(self.generator)
        if interrupted and self.epoch_start is not None:
            scheduler, rng["generator"] = self.epoch_start
        save_checkpoint(
            self.last_path, model=self.model, meta=self.meta, optimizer=self.optimizer.state_dict(),
            scheduler=scheduler, scaler=self.scaler.state_dict(), epoch=self.epoch, train_epochs=self.t.epochs,
            history=self.history, best=self.best, bad_epochs=self.bad_epochs, stopped_early=self.stopped_early,
            best_state_dict=self.best_weights, rng=rng,
        )  # fmt: skip
        self.tracker.log_file(self.last_path, "checkpoints")

    def train_epoch(self, stop: threading.Event | None, bar: Progress, task: Any) -> float:
        """One pass over shuffled (or class-balanced) batches; returns the mean training loss (all processes)."""
        r = self.ranks
        schedule = copy.deepcopy(self.scheduler.state_dict()) if self.scheduler is not None else None
        self.epoch_start = (schedule, self.generator.get_state())
        batches = epoch_batches(
            self.n_train, self.t.batch_size, self.generator, self.sample_weights, rank=r.rank, world=r.world
        )
        bar.reset(task, total=len(batches))
        self.step_model.train()
        total, seen, start = torch.zeros((), device=self.device), 0, time.perf_counter()
        for inputs, yb in self.batches(batches):
            check_stop(stop)
            inputs = self.augment(inputs, self.generator)
            with autocast(self.device, self.precision):
                logits = self.step_model(*inputs)
            loss = self.criterion(logits.float(), yb)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.t.schedule == "onecycle":
                self.scheduler.step()
            total, seen = total + loss.detach() * len(yb), seen + len(yb)
            bar.advance(task)
        loss_sum, seen = distributed.all_sum([total.item(), seen], self.device)
        self.windows_per_s = seen / max(time.perf_counter() - start, 1e-9)
        return loss_sum / max(seen, 1)

    def _validate(self, epoch: int, train_loss: float, lr: float) -> float:
        """Rank 0: evaluate on val, log, keep the best weights and the record; returns the monitor."""
        batch_size, ecg = max(256, self.t.batch_size), self.meta.ecg
        val, _ = evaluate(self.model, self.val_w, batch_size=batch_size, precision=self.precision, ecg=ecg,
                          per_record=False)  # per-record values each epoch would be noise  # fmt: skip
        record = {"epoch": epoch, "train_loss": train_loss, **flat_metrics("val", val), "lr": lr}
        logged = {k: v for k, v in record.items() if k != "epoch"}
        self.tracker.log_metrics({**logged, "train_windows_per_s": self.windows_per_s}, step=epoch)
        value = record[self.t.monitor]
        if _improved(value, self.best["value"], self.t.monitor):
            self.best = {"metric": self.t.monitor, "value": value, "epoch": epoch}
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            save_checkpoint(self.best_path, model=self.model, meta=self.meta, epoch=epoch)
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.history.append(record)
        return value

    def end_epoch(self, epoch: int, train_loss: float, lr: float) -> float:
        """Validate, log, keep the best weights, step the schedule, write last.pt; returns the monitor.

        Rank 0 validates; the others take its monitor value and patience count, so every process
        steps the same schedule and stops at the same epoch."""
        if not math.isfinite(train_loss):
            raise SigattnError(f"training diverged at epoch {epoch} (train_loss {train_loss}); lower train.lr")
        value = self._validate(epoch, train_loss, lr) if self.ranks.main else 0.0
        value, bad_epochs = distributed.from_main([value, self.bad_epochs], self.device)
        self.bad_epochs = int(bad_epochs)
        if self.t.schedule == "cosine":
            self.scheduler.step()
        elif self.t.schedule == "plateau":
            self.scheduler.step(value)
        self.epoch, self.stopped_early = epoch, bool(self.t.patience) and self.bad_epochs >= self.t.patience
        self.epoch_start = None  # the epoch is complete: nothing to repeat
        self.save_last()
        return value

    def result(self) -> FitResult:
        """What the run produced; on rank 0 only after at least one epoch finished."""
        if self.ranks.main and self.best_weights is None:
            raise SigattnError(f"no epoch finished, so there is no best model; last checkpoint: {self.last_path}")
        return FitResult(
            run_id=self.tracker.run_id, run_name=self.name, best_epoch=int(self.best["epoch"]), monitor=self.t.monitor,
            best_value=float(self.best["value"] if self.best["value"] is not None else math.nan),
            best_checkpoint=self.best_path, last_checkpoint=self.last_path, history=self.history,
            stopped_early=self.stopped_early, device=str(self.device), precision=self.precision,
            data_path=self.batches.kind, world_size=self.ranks.world, last_epoch=self.epoch,
        )  # fmt: skip


def fit(
    cfg: RunConfig,
    prepared: Prepared,
    tracker: Tracker | None = None,
    *,
    resume: dict[str, Any] | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> FitResult:
    """Train `cfg` on `prepared`, reporting to `tracker` (None: a NullTracker); see the module docstring.

    `resume` is a loaded last checkpoint (`load_checkpoint`): the run continues after its epoch up
    to `cfg.train.epochs`. If `stop` is set (checked between batches) or Ctrl-C arrives, last.pt
    is written with the weights of that moment and KeyboardInterrupt is raised; resuming from it
    repeats the interrupted epoch. Progress bars go to stderr unless `progress` is False or
    `train.quiet` is set. In an initialised process group (torchrun) every process calls `fit`
    with the same config and data; on CUDA each trains on GPU LOCAL_RANK, and only rank 0's
    tracker and checkpoints are used.
    """
    tracker = tracker if tracker is not None else NullTracker()
    device = select_device(cfg.train.device)
    ranks = distributed.current()
    if ranks.active and device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
    precision = resolve_precision(cfg.train.precision, device)
    for split in ("train", "val", cfg.train.report_split):  # the test split is read only if reported
        if len(prepared.splits[split]) == 0:
            raise SigattnError(f"the {split} split of dataset {cfg.data.dataset!r} is empty; adjust data.split")
    run = _Run(cfg, prepared, tracker, device, precision)
    try:
        if resume is not None:
            check_resume(resume, run.meta, cfg.train)
            run.restore(resume)
        elif ranks.main:  # a resumed run has logged these already
            tracker.log_config({**cfg.to_dict(), "resolved": run.resolved()})
            tracker.log_dataset(cfg.data.dataset, dataset_digest(prepared), prepared.summary(), "training")
        if ranks.main:
            tags = {"dataset": cfg.data.dataset, "block": cfg.model.blocks_label(), "backbone": cfg.model.backbone}
            tags |= {"split": cfg.data.split.strategy, "data_path": run.batches.kind, "git_commit": git_commit()}
            tracker.set_tags(tags)
        monitor = cfg.train.monitor
        with progress_bars(progress and not cfg.train.quiet and ranks.main) as bar:
            epochs_task = bar.add_task("epochs", total=cfg.train.epochs, completed=run.epoch + 1, info="")
            batch_task = bar.add_task("batches", total=run.steps, info="")
            try:
                for epoch in range(run.epoch + 1, cfg.train.epochs):
                    if run.stopped_early:
                        break
                    check_stop(stop)
                    lr = run.optimizer.param_groups[0]["lr"]
                    value = run.end_epoch(epoch, run.train_epoch(stop, bar, batch_task), lr)
                    best = run.best["value"] if run.best["value"] is not None else value
                    bar.update(epochs_task, advance=1, info=f"{monitor}={value:.4f} (best {best:.4f})")
            except KeyboardInterrupt:
                run.save_last(interrupted=True)
                raise
        tracker.set_tags({"compile": run.step_model.state})
    finally:
        run.batches.close()
    return run.result()
