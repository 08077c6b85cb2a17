"""The training loop on a tiny synthetic set: what it reports, reproducibility, resume, interruption."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from sigattn.config import RunConfig, load_config
from sigattn.data.prepare import Prepared, prepare
from sigattn.device import resolve_precision, select_device
from sigattn.errors import SigattnError
from sigattn.evaluate.predict import evaluate, predict_proba
from sigattn.experiments.run import train_and_report
from sigattn.models.checkpoint import load_checkpoint, model_from_checkpoint
from sigattn.train.batching import epoch_batches
from sigattn.train.optim import class_weights

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread, no OpenMP spin-waits

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "data.synthetic={n_per_class: 3, seconds: 1.0}",
    "data.window={length: 512, stride: 256}",
    "model.widths=[8, 8, 16, 16]",
    "train.batch_size=32",
    "train.device=cpu",
]


class RecordingTracker:
    """A Tracker that keeps every call; `stop_after` sets `stop` once that epoch's metrics arrive."""

    def __init__(self, run_id: str | None = None, stop: threading.Event | None = None, stop_after: int = -1) -> None:
        self.run_id = run_id
        self.calls: list[tuple[str, Any]] = []
        self.stop, self.stop_after = stop, stop_after

    def named(self, name: str) -> list[Any]:
        return [args for call, args in self.calls if call == name]

    def log_config(self, config: dict[str, Any]) -> None:
        self.calls.append(("log_config", config))

    def set_tags(self, tags: dict[str, str]) -> None:
        self.calls.append(("set_tags", tags))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.calls.append(("log_metrics", (metrics, step)))
        if self.stop is not None and step == self.stop_after and "val_loss" in metrics:
            self.stop.set()

    def log_figure(self, figure: Figure, path: str) -> None:
        self.calls.append(("log_figure", (figure, path)))

    def log_dict(self, data: dict[str, Any], path: str) -> None:
        self.calls.append(("log_dict", (data, path)))

    def log_file(self, local_path: Path, artifact_dir: str) -> None:
        self.calls.append(("log_file", (Path(local_path), artifact_dir)))

    def log_dataset(self, name: str, digest: str, summary: dict[str, Any], context: str) -> None:
        self.calls.append(("log_dataset", (name, digest, summary, context)))

    def log_model(
        self, model: torch.nn.Module, checkpoint: Path, input_example: np.ndarray, side_example: object = None
    ) -> None:
        self.calls.append(("log_model", (model, Path(checkpoint), input_example)))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Prepared:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIGATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return prepare(load_config(None, TINY).data)


def config(tmp_path: Path, *overrides: str) -> RunConfig:
    return load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path / 'ckpt'}", *overrides])


def test_fit_reports_metrics_figures_model_and_checkpoints(tmp_path, prepared):
    tracker = RecordingTracker(run_id="abc123")
    result = train_and_report(config(tmp_path, "train.epochs=2"), prepared, tracker, progress=False)
    epochs = [(m, step) for m, step in tracker.named("log_metrics") if "val_loss" in m]
    assert [step for _, step in epochs] == [0, 1]
    for metrics, _ in epochs:
        assert {"train_loss", "val_loss", "val_accuracy", "val_macro_f1", "val_balanced_accuracy", "lr"} <= set(metrics)
        assert {f"val_f1_{c}" for c in prepared.classes} <= set(metrics)
    (test, step), = [(m, s) for m, s in tracker.named("log_metrics") if "test_accuracy" in m]  # fmt: skip
    assert step == 1 and test["test_accuracy"] == result.test_metrics["accuracy"] and "test_macro_f1" in test
    (scores, score_step), = [(m, s) for m, s in tracker.named("log_metrics") if "deletion_drop_ig" in m]  # fmt: skip
    assert score_step == 1 and {"deletion_drop_random", "deletion_accuracy", "input_align_IR"} <= set(scores)
    attention = [f"attention/channels_stage{k}.png" for k in range(4)]  # se: channel gates only
    attention += ["attention/class_average_ig.png", "attention/class_envelope_ig.png"]  # IG, every block
    logged = sorted(path for _, path in tracker.named("log_figure"))
    overlays = [path for path in logged if path.startswith("attention/overlay_")]  # IG + channel gates per window
    assert overlays and sorted(set(logged) - set(overlays)) == sorted([*attention, "plots/confusion_test.png",
                                                                        "plots/curves.png"])  # fmt: skip
    (report, report_path), (maps, maps_path) = tracker.named("log_dict")  # fmt: skip
    assert report_path == "reports/test_report.json" and set(report["per_class"]) == set(prepared.classes)
    assert maps_path == "attention/maps.json" and len(maps["stages"]) == 4
    (config_logged,) = tracker.named("log_config")
    assert config_logged["train"]["epochs"] == 2 and config_logged["resolved"]["device"] == "cpu"
    assert config_logged["resolved"]["classes"] == list(prepared.classes)
    tags, compiled = tracker.named("set_tags")  # at the start, and how the step ran at the end
    assert tags["dataset"] == "synthetic" and tags["block"] == "se" and tags["backbone"] == "cnn"
    assert set(tags) == {"dataset", "block", "backbone", "split", "data_path", "git_commit"}
    n_train, length = prepared.splits["train"].x.shape[::2]
    planned = rf"\(2 epochs x {n_train:,} windows of {length:,} samples\)"
    assert re.fullmatch(rf"eager \(auto: ~\d+\.\d s of eager training planned {planned}, compiling repays from 200 s\)",
                        compiled["compile"])  # fmt: skip
    assert tags["data_path"] == config_logged["resolved"]["data_path"] == result.data_path == "device"
    ((name, digest, summary, context),) = tracker.named("log_dataset")
    assert (name, context, len(digest)) == ("synthetic", "training", 16) and summary["classes"] == list(
        prepared.classes
    )
    assert result.run_id == "abc123" and result.run_name == "synthetic-4c/se/seed0"
    assert result.best_checkpoint == tmp_path / "ckpt" / "abc123" / "best.pt"
    assert result.best_checkpoint.is_file() and result.last_checkpoint.is_file()
    files = tracker.named("log_file")
    assert (result.best_checkpoint, "checkpoints") in files and files.count(
        (result.last_checkpoint, "checkpoints")
    ) == 2
    ((model, ckpt_path, example),) = tracker.named("log_model")
    assert ckpt_path == result.best_checkpoint and example.shape == (2, 1, 512) and not model.training
    assert len(result.history) == 2 and result.best_epoch in (0, 1)
    assert sorted(p.name for p in result.best_checkpoint.parent.iterdir()) == ["best.pt", "last.pt"]
    # the best checkpoint alone reproduces the test metrics
    restored, meta = model_from_checkpoint(result.best_checkpoint)
    metrics, probs = evaluate(restored, prepared.splits["test"])
    assert metrics["accuracy"] == result.test_metrics["accuracy"] and probs.shape == (len(prepared.splits["test"]), 4)
    assert meta.classes == tuple(prepared.classes) and (meta.window_length, meta.window_stride) == (512, 256)
    assert meta.side_features == () and meta.beat is None and meta.in_channels == 1
    assert meta.config == {k: v for k, v in config_logged.items() if k != "resolved"}
    assert torch.load(result.best_checkpoint, weights_only=True)["meta"]["format"] == 2
    np.testing.assert_allclose(predict_proba(restored, prepared.splits["test"].x[:5]), probs[:5], rtol=1e-5)
    last = load_checkpoint(result.last_checkpoint)
    assert last["epoch"] == 1 and len(last["history"]) == 2 and {"optimizer", "scheduler", "rng"} <= set(last)


@pytest.mark.parametrize(("per_class", "most"), [(0, 0), (1, 1)])
def test_overlays_per_class_sets_how_many_window_overlays_each_class_gets(tmp_path, prepared, per_class, most):
    tracker = RecordingTracker(run_id="abc123")
    cfg = config(tmp_path, "train.epochs=1", f"tracking.overlays_per_class={per_class}")
    train_and_report(cfg, prepared, tracker, progress=False)
    logged = [path for _, path in tracker.named("log_figure")]
    overlays = [p.removeprefix("attention/overlay_") for p in logged if p.startswith("attention/overlay_")]
    per_kind = Counter(name.rsplit("_", 1)[0] for name in overlays)  # <class>_<correct|wrong>
    assert bool(overlays) == bool(most) and all(n <= most for n in per_kind.values())
    assert "attention/class_average_ig.png" in logged and "plots/confusion_test.png" in logged


def test_same_seed_same_results(tmp_path, prepared):
    cfg = config(tmp_path, "train.epochs=2")
    a = train_and_report(cfg, prepared, progress=False)
    b = train_and_report(cfg, prepared, progress=False)
    assert a.history == b.history and a.test_metrics == b.test_metrics
    assert a.best_checkpoint != b.best_checkpoint  # each run gets its own timestamped folder
    other = train_and_report(config(tmp_path, "train.epochs=2", "train.seed=1"), prepared, progress=False)
    assert other.history != a.history


def test_resume_after_interruption_matches_a_straight_run(tmp_path, prepared):
    cfg = config(tmp_path, "train.epochs=3", "model.dropout=0.3")
    straight = train_and_report(cfg, prepared, RecordingTracker(run_id="straight"), progress=False)
    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        train_and_report(
            cfg, prepared, RecordingTracker(run_id="cut", stop=stop, stop_after=0), progress=False, stop=stop
        )
    last = load_checkpoint(tmp_path / "ckpt" / "cut" / "last.pt")
    assert last["epoch"] == 0 and len(last["history"]) == 1
    resumed = train_and_report(cfg, prepared, RecordingTracker(run_id="resumed"), resume=last, progress=False)
    assert resumed.history == straight.history and resumed.test_metrics == straight.test_metrics
    a, b = load_checkpoint(straight.last_checkpoint), load_checkpoint(resumed.last_checkpoint)
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert resumed.best_checkpoint.is_file()


class StopAfter(threading.Event):
    """An event that reads as set from its `n`-th check on (so a stop lands mid-epoch)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self.n


def test_stop_mid_epoch_writes_a_valid_last_checkpoint(tmp_path, prepared):
    cfg = config(tmp_path, "train.epochs=2")
    stop = StopAfter(4)  # epoch start, then batches 1 and 2 run, then stop
    tracker = RecordingTracker(run_id="mid")
    with pytest.raises(KeyboardInterrupt):
        train_and_report(cfg, prepared, tracker, progress=False, stop=stop)
    folder = tmp_path / "ckpt" / "mid"
    assert [p.name for p in folder.iterdir()] == ["last.pt"]  # no temp files, no best yet
    last = load_checkpoint(folder / "last.pt")
    assert last["epoch"] == -1 and last["history"] == [] and last["best_state_dict"] is None
    assert tracker.named("log_file") == [(folder / "last.pt", "checkpoints")]
    model, _ = model_from_checkpoint(last)  # loadable weights, trained for two batches
    result = train_and_report(cfg, prepared, resume=last, progress=False)
    assert [h["epoch"] for h in result.history] == [0, 1]


@pytest.mark.parametrize("balance", ["weights", "sampler"])
def test_balance_modes(tmp_path, prepared, balance):
    result = train_and_report(config(tmp_path, "train.epochs=1", f"train.balance={balance}"), prepared, progress=False)
    assert np.isfinite(result.history[0]["train_loss"])


@pytest.mark.parametrize(
    "overrides",
    [
        ("train.schedule=onecycle",),
        ("train.schedule=plateau", "train.monitor=val_loss"),
        ("train.schedule=none", "train.optimizer=sgd", "train.lr=0.01"),
        ("train.precision=bf16", "train.schedule=cosine"),
    ],
)
def test_schedules_optimizers_and_precision(tmp_path, prepared, overrides):
    result = train_and_report(config(tmp_path, "train.epochs=2", *overrides), prepared, progress=False)
    lrs = [h["lr"] for h in result.history]
    if "train.schedule=none" in overrides:
        assert lrs == [0.01, 0.01]
    if "train.schedule=onecycle" in overrides:
        assert lrs[0] < 1e-3 / 10  # one-cycle warms up from max_lr / 25
    assert result.precision == (
        "bf16" if "train.precision=bf16" in overrides else resolve_precision("auto", torch.device("cpu"))
    )


def test_early_stopping(tmp_path, prepared):
    cfg = config(tmp_path, "train.epochs=8", "train.patience=1", "train.lr=1e-9", "train.monitor=val_loss",
                 "train.schedule=none")  # fmt: skip
    result = train_and_report(cfg, prepared, progress=False)
    assert result.stopped_early and len(result.history) < 8
    assert load_checkpoint(result.last_checkpoint)["stopped_early"] is True


def test_resume_refuses_a_different_model(tmp_path, prepared):
    result = train_and_report(config(tmp_path, "train.epochs=1"), prepared, progress=False)
    last = load_checkpoint(result.last_checkpoint)
    with pytest.raises(SigattnError, match=r"cannot resume from .*last.pt: its model"):
        train_and_report(config(tmp_path, "train.epochs=2", "model.block=eca"), prepared, resume=last, progress=False)


CPU_CASES = [
    ({"avx512_bf16": True}, "bf16"),
    ({"amx_bf16": True}, "bf16"),
    ({"avx512_bf16": False}, "fp32"),
    ({}, "fp32"),
]


@pytest.mark.parametrize(("capabilities", "expected"), CPU_CASES)
def test_auto_precision_on_cpu_is_bf16_only_where_the_cpu_has_it(monkeypatch, capabilities, expected):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert resolve_precision("auto", torch.device("cpu")) == expected
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("mps")) == "fp32"


def test_device_and_precision_choices():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type in {"cpu", "cuda", "mps"}
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(SigattnError, match="train.precision fp16 needs a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(SigattnError, match=r"train.device 'cuda:99' is not available here; available: cpu"):
        select_device("cuda:99")
    with pytest.raises(SigattnError, match="train.device must be one of"):
        select_device("tpu")


def test_batches_andclass_weights():
    g = torch.Generator().manual_seed(0)
    batches = epoch_batches(65, 32, g, None)
    assert [len(b) for b in batches] == [32, 32]  # the lone 65th sample waits for another epoch
    assert sorted(torch.cat(epoch_batches(64, 32, g, None)).tolist()) == list(range(64))
    weights = class_weights(np.array([90, 10, 0]))
    assert torch.allclose(weights, torch.tensor([100 / 180, 100 / 20, 0.0]))
    labels = np.array([0] * 90 + [1] * 10)
    drawn = torch.cat(epoch_batches(100, 100, g, torch.from_numpy(1.0 / np.bincount(labels)[labels])))
    assert 30 < (labels[drawn.numpy()] == 1).sum() < 70  # balanced draws, with replacement


def test_training_imports_neither_mlflow_nor_typer():
    code = "import sys, sigattn.train.loop; assert not {'mlflow', 'typer'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_onecycle_resume_after_a_mid_epoch_stop_in_the_last_epoch_finishes_the_schedule(tmp_path, prepared):
    cfg = config(tmp_path, "train.epochs=2", "train.schedule=onecycle")
    steps = len(epoch_batches(len(prepared.splits["train"]), cfg.train.batch_size, torch.Generator()))
    stop = StopAfter(1 + steps + 1 + 3)  # all of epoch 0, then two batches of the last epoch
    with pytest.raises(KeyboardInterrupt):
        train_and_report(cfg, prepared, RecordingTracker(run_id="cycle"), progress=False, stop=stop)
    last = load_checkpoint(tmp_path / "ckpt" / "cycle" / "last.pt")
    assert last["epoch"] == 0 and last["scheduler"]["last_epoch"] == steps  # the interrupted epoch is repeated whole
    result = train_and_report(cfg, prepared, resume=last, progress=False)
    assert [h["epoch"] for h in result.history] == [0, 1]
    final = load_checkpoint(result.last_checkpoint)
    assert final["scheduler"]["last_epoch"] == final["scheduler"]["total_steps"] == 2 * steps
