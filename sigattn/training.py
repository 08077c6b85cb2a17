"""Train, evaluate and predict: a seeded, resumable loop that reports to a `Tracker`.

`fit` trains on `prepared.splits["train"]`, picks the best epoch on `train.monitor` over the val
split, evaluates that model once on test and hands metrics, figures, checkpoints and the model
to the tracker. Batches come from `sigattn.batching` (the whole split on the device, or a
memory-mapped store). On CPU the same seed and config give the same history, and a resumed run
continues exactly where its last checkpoint was. Under torchrun (`sigattn.distributed`) each
process trains on its share of every batch through DistributedDataParallel; rank 0 alone
validates, logs and writes checkpoints.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import subprocess
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sigattn import __version__, distributed
from sigattn.attention_plots import attention_report
from sigattn.batching import batch_source, default_workers, epoch_batches
from sigattn.checkpoint import build_model, rng_state, save_checkpoint, set_rng_state
from sigattn.config import RunConfig, TrainConfig, run_name
from sigattn.data.prepare import Prepared
from sigattn.data.side import RR_FEATURES
from sigattn.data.transforms import Pipeline
from sigattn.data.types import SPLITS, Windows
from sigattn.errors import SigattnError
from sigattn.metrics import AAMI_CLASSES, classification_metrics, flat_metrics
from sigattn.plots import confusion_figure, curves_figure
from sigattn.tracker import NullTracker, Tracker

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class FitResult:
    """What a finished `fit` produced; `test_metrics` come from the best checkpoint."""

    run_id: str | None
    run_name: str
    best_epoch: int
    monitor: str
    best_value: float
    test_metrics: dict[str, Any]
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    device: str = "cpu"
    precision: str = "fp32"
    data_path: str = "device"
    world_size: int = 1


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def select_device(name: str = "auto") -> torch.device:
    """ "auto": CUDA, then Apple MPS, then CPU; otherwise the named device, which must exist."""
    available = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())] + ["mps"] * _mps_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if name == "cpu" or (name == "mps" and _mps_available()):
        return torch.device(name)
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match and int(match.group(1) or 0) < torch.cuda.device_count():
        return torch.device(name)
    if match or name == "mps":
        raise SigattnError(f"train.device {name!r} is not available here; available: {', '.join(available)}")
    raise SigattnError(f"train.device must be one of: auto, cpu, cuda, cuda:N, mps; got {name!r}")


def resolve_precision(name: str, device: torch.device) -> str:
    """ "auto": bf16 on CUDA if supported, else fp16 (with a GradScaler); fp32 elsewhere."""
    bf16_ok = device.type != "cuda" or torch.cuda.is_bf16_supported()
    if name == "auto":
        return ("bf16" if bf16_ok else "fp16") if device.type == "cuda" else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise SigattnError(f"train.precision fp16 needs a CUDA device; on {device.type} use bf16 or fp32")
    if name == "bf16" and not bf16_ok:
        raise SigattnError("train.precision bf16 is not supported by this GPU; use fp16 or fp32")
    return name


def _autocast(device: torch.device, precision: str) -> AbstractContextManager:
    return nullcontext() if precision == "fp32" else torch.autocast(device.type, dtype=_DTYPES[precision])


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices); ask cuDNN for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def _logits(model: nn.Module, x: np.ndarray, batch_size: int, device: torch.device, precision: str) -> torch.Tensor:
    model.eval()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32)).to(device)
            with _autocast(device, precision):
                parts.append(model(xb).float().cpu())
    return torch.cat(parts)


def _device_of(model: nn.Module, device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else next(model.parameters()).device


def predict_proba(
    model: nn.Module,
    x: np.ndarray,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    *,
    precision: str = "fp32",
) -> np.ndarray:
    """Class probabilities (N, K) float32 for windows `x` (N, C, L); puts `model` in eval mode."""
    if len(x) == 0:
        raise SigattnError("predict_proba needs at least one window; got none")
    return _logits(model, x, batch_size, _device_of(model, device), precision).softmax(-1).numpy()


def evaluate(
    model: nn.Module,
    windows: Windows,
    *,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    precision: str = "fp32",
    ecg: bool | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """(classification metrics plus mean cross-entropy `loss`, probabilities (N, K)).

    `ecg` None means: AAMI metrics when every class is an AAMI beat class (N, S, V, F, Q).
    """
    if len(windows) == 0:
        raise SigattnError("evaluate needs at least one window; the split is empty")
    logits = _logits(model, windows.x, batch_size, _device_of(model, device), precision)
    loss = F.cross_entropy(logits, torch.from_numpy(windows.y.astype(np.int64))).item()
    ecg = set(windows.classes) <= AAMI_CLASSES if ecg is None else ecg
    metrics = classification_metrics(windows.y, logits.argmax(-1).numpy(), windows.classes, ecg=ecg)
    return {"loss": loss, **metrics}, logits.softmax(-1).numpy()


def bundle_meta(cfg: RunConfig, prepared: Prepared) -> dict[str, Any]:
    """Everything predict needs to rebuild the model and preprocess new signals, and nothing else."""
    model = cfg.to_dict()["model"]
    if cfg.data.rr_features:  # the packed side channel (sigattn.data.side) carries the RR features
        model["options"] = {**model["options"], "side_features": len(RR_FEATURES)}
    meta: dict[str, Any] = {
        "format": 1,
        "sigattn_version": __version__,
        "dataset": cfg.data.dataset,
        "model": model,
        "in_channels": int(prepared.splits["train"].x.shape[1]),
        "classes": list(prepared.classes),
        "fs": float(prepared.fs),
        "window": {"length": int(prepared.window_length), "stride": cfg.data.window.stride},
        "transforms": Pipeline(cfg.data.transforms).to_config(),
        "ecg": set(prepared.classes) <= AAMI_CLASSES,
        "config": cfg.to_dict(),  # the whole run config, so eval and resume need nothing else
    }
    if cfg.data.dataset == "mitdb":  # beats are cut around R peaks, not slid
        meta["window"]["stride"] = None
        meta["beat"] = {"lead": cfg.data.lead, "before": cfg.data.beat_before, "after": cfg.data.beat_after}
    return meta


def dataset_digest(prepared: Prepared) -> str:
    """Short SHA-256 hex over the x and y arrays of the three splits."""
    h = hashlib.sha256()
    for name in SPLITS:
        w = prepared.splits[name]
        h.update(name.encode())
        h.update(np.ascontiguousarray(w.x, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(w.y, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def git_commit() -> str:
    """`git rev-parse HEAD` of the package's checkout, or "unknown"."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _optimizer(model: nn.Module, t: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """SGD or AdamW; on CUDA AdamW runs as one fused kernel."""
    if t.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=t.lr, momentum=t.momentum, nesterov=t.momentum > 0, weight_decay=t.weight_decay
        )
    fused = True if device.type == "cuda" else None
    return torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay, fused=fused)


def _scheduler(optimizer: torch.optim.Optimizer, t: TrainConfig, steps: int) -> Any:
    """cosine (per epoch), onecycle (per batch), plateau (on the monitor: halve the lr) or None."""
    if t.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs)
    if t.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=t.epochs * steps)
    if t.schedule == "plateau":
        mode = "min" if t.monitor == "val_loss" else "max"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode, factor=0.5, patience=max(1, t.patience // 2))
    return None


def _class_weights(counts: np.ndarray) -> torch.Tensor:
    """Inverse class frequency, normalised so the weighted mean over the samples is 1."""
    weights = np.where(counts > 0, counts.sum() / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt


def _progress(show: bool) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, TextColumn("{task.fields[info]}"), console=Console(stderr=True), disable=not show)


def _check_resume(resume: dict[str, Any], meta: dict[str, Any], t: TrainConfig) -> None:
    where = resume.get("path", "the resume checkpoint")
    for key in ("model", "classes", "in_channels", "window", "transforms"):
        if resume["meta"].get(key) != meta[key]:
            raise SigattnError(
                f"cannot resume from {where}: its {key} {resume['meta'].get(key)!r} differs from {meta[key]!r}"
            )
    if t.schedule == "onecycle" and resume.get("train_epochs") != t.epochs:
        raise SigattnError(
            f"cannot resume from {where} with schedule onecycle: train.epochs must stay {resume.get('train_epochs')}"
        )


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
        self.classes = self.meta["classes"]
        seed_everything(t.seed)
        self.model = build_model(self.meta["model"], self.meta["in_channels"], len(self.classes)).to(device)
        step_model: nn.Module = self.model
        if r.active:  # the same initial weights everywhere, then each process its own dropout masks
            torch.manual_seed(t.seed + 7919 * r.rank)
            ids = [device.index] if device.type == "cuda" else None
            step_model = DistributedDataParallel(self.model, device_ids=ids)
        self.step_model = torch.compile(step_model) if t.compile else step_model
        self.generator = torch.Generator().manual_seed(t.seed)  # the same batch order on every process
        store = prepared.cache_path.with_suffix(".train") if prepared.cache_path is not None else None
        self.batches, self.data_reason = batch_source(
            t.data_path, train_w.x, train_w.y, device, store=store, workers=default_workers(r.world)
        )
        self.n_train, self.windows_per_s = len(train_w), 0.0
        counts = np.bincount(train_w.y, minlength=len(self.classes))
        self.sample_weights = None
        if t.balance == "sampler":
            self.sample_weights = torch.from_numpy(1.0 / np.maximum(counts, 1)[train_w.y])
        weight = _class_weights(counts).to(device) if t.balance == "weights" else None
        self.criterion = nn.CrossEntropyLoss(weight=weight)
        self.steps = len(epoch_batches(self.n_train, t.batch_size, torch.Generator(), None, world=r.world))
        self.optimizer = _optimizer(self.model, t, device)
        self.scheduler = _scheduler(self.optimizer, t, self.steps)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.epoch, self.history, self.bad_epochs, self.stopped_early = -1, [], 0, False
        self.best: dict[str, Any] = {"metric": t.monitor, "value": None, "epoch": -1}
        self.best_weights: dict[str, torch.Tensor] | None = None
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
                "run_name": self.name, "in_channels": self.meta["in_channels"], "fs": self.meta["fs"],
                "window_length": self.meta["window"]["length"], "steps_per_epoch": self.steps,
                "n_params": sum(p.numel() for p in self.model.parameters()), "data_path": self.batches.kind,
                "data_path_reason": self.data_reason, "data_workers": self.batches.workers,
                "world_size": self.ranks.world}  # fmt: skip

    def save_last(self) -> None:
        if not self.ranks.main:
            return
        save_checkpoint(
            self.last_path, model=self.model, meta=self.meta, optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict() if self.scheduler is not None else None,
            scaler=self.scaler.state_dict(), epoch=self.epoch, train_epochs=self.t.epochs, history=self.history,
            best=self.best, bad_epochs=self.bad_epochs, stopped_early=self.stopped_early,
            best_state_dict=self.best_weights, rng=rng_state(self.generator),
        )  # fmt: skip
        self.tracker.log_file(self.last_path, "checkpoints")

    def train_epoch(self, stop: threading.Event | None, bar: Progress, task: Any) -> float:
        """One pass over shuffled (or class-balanced) batches; returns the mean training loss (all processes)."""
        r = self.ranks
        batches = epoch_batches(
            self.n_train, self.t.batch_size, self.generator, self.sample_weights, rank=r.rank, world=r.world
        )
        bar.reset(task, total=len(batches))
        self.step_model.train()
        total, seen, start = torch.zeros((), device=self.device), 0, time.perf_counter()
        for xb, yb in self.batches(batches):
            _check_stop(stop)
            with _autocast(self.device, self.precision):
                logits = self.step_model(xb)
            loss = self.criterion(logits.float(), yb)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.t.schedule == "onecycle":
                self.scheduler.step()
            total += loss.detach() * len(yb)
            seen += len(yb)
            bar.advance(task)
        loss_sum, seen = distributed.all_sum([total.item(), seen], self.device)
        self.windows_per_s = seen / max(time.perf_counter() - start, 1e-9)
        return loss_sum / max(seen, 1)

    def _validate(self, epoch: int, train_loss: float, lr: float) -> float:
        """Rank 0: evaluate on val, log, keep the best weights and the record; returns the monitor."""
        val, _ = evaluate(self.model, self.val_w, batch_size=max(256, self.t.batch_size), precision=self.precision)
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
        self.save_last()
        return value

    def result(self, test: dict[str, Any]) -> FitResult:
        return FitResult(
            run_id=self.tracker.run_id, run_name=self.name, best_epoch=int(self.best["epoch"]), monitor=self.t.monitor,
            best_value=float(self.best["value"] if self.best["value"] is not None else math.nan), test_metrics=test,
            best_checkpoint=self.best_path, last_checkpoint=self.last_path, history=self.history,
            stopped_early=self.stopped_early, device=str(self.device), precision=self.precision,
            data_path=self.batches.kind, world_size=self.ranks.world,
        )  # fmt: skip

    def finish(self) -> FitResult:
        """Evaluate the best weights on test; hand metrics, report, figures and model to the tracker.

        On ranks other than 0 there is nothing to do: their result has no test metrics."""
        if not self.ranks.main:
            return self.result({})
        if self.best_weights is None:
            raise SigattnError(f"no epoch finished, so there is no best model; last checkpoint: {self.last_path}")
        model, tracker, t = self.model, self.tracker, self.t
        model.load_state_dict(self.best_weights)
        best_epoch = int(self.best["epoch"])
        test, probs = evaluate(model, self.test_w, batch_size=max(256, t.batch_size), precision=self.precision)
        tracker.log_metrics(flat_metrics("test", test), step=self.epoch)
        report = {"run_name": self.name, "best_epoch": best_epoch, "monitor": t.monitor,
                  "best_value": self.best["value"], "checkpoint": self.best_path.name, **test}  # fmt: skip
        tracker.log_dict(report, "reports/test_report.json")
        title = f"{self.name}: test, best epoch {best_epoch}"
        tracker.log_figure(confusion_figure(test["confusion"], self.classes, title), "plots/confusion_test.png")
        tracker.log_figure(curves_figure(self.history, self.name, t.monitor), "plots/curves.png")
        block = self.cfg.model.blocks_label()
        figures, maps = attention_report(model, self.test_w, probs, run_name=self.name, block=block)
        for path, figure in figures.items():  # nothing when the model has no gates (block "none")
            tracker.log_figure(figure, path)
        if maps:
            tracker.log_dict(maps, "attention/maps.json")
        from sigattn.interpret import score_windows  # interpret uses predict_proba from here

        before = self.cfg.data.beat_before if self.cfg.data.dataset == "mitdb" else None
        scores = score_windows(model, self.test_w, dataset=self.cfg.data.dataset, before=before)
        tracker.log_metrics(scores, step=self.epoch)
        tracker.log_file(self.best_path, "checkpoints")
        example = np.ascontiguousarray(self.test_w.x[:2], dtype=np.float32)
        tracker.log_model(model.to("cpu").eval(), self.best_path, input_example=example)
        return self.result(test)


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
    for split in SPLITS:
        if len(prepared.splits[split]) == 0:
            raise SigattnError(f"the {split} split of dataset {cfg.data.dataset!r} is empty; adjust data.split")
    run = _Run(cfg, prepared, tracker, device, precision)
    try:
        if resume is not None:
            _check_resume(resume, run.meta, cfg.train)
            run.restore(resume)
        elif ranks.main:  # a resumed run has logged these already
            tracker.log_config({**cfg.to_dict(), "resolved": run.resolved()})
            tracker.log_dataset(cfg.data.dataset, dataset_digest(prepared), prepared.summary(), "training")
        if ranks.main:
            tags = {"dataset": cfg.data.dataset, "block": cfg.model.blocks_label(), "backbone": cfg.model.backbone}
            tags |= {"split": cfg.data.split.strategy, "data_path": run.batches.kind, "git_commit": git_commit()}
            tracker.set_tags(tags)
        monitor = cfg.train.monitor
        with _progress(progress and not cfg.train.quiet and ranks.main) as bar:
            epochs_task = bar.add_task("epochs", total=cfg.train.epochs, completed=run.epoch + 1, info="")
            batch_task = bar.add_task("batches", total=run.steps, info="")
            try:
                for epoch in range(run.epoch + 1, cfg.train.epochs):
                    if run.stopped_early:
                        break
                    _check_stop(stop)
                    lr = run.optimizer.param_groups[0]["lr"]
                    value = run.end_epoch(epoch, run.train_epoch(stop, bar, batch_task), lr)
                    best = run.best["value"] if run.best["value"] is not None else value
                    bar.update(epochs_task, advance=1, info=f"{monitor}={value:.4f} (best {best:.4f})")
            except KeyboardInterrupt:
                run.save_last()
                raise
    finally:
        run.batches.close()
    return run.finish()
