"""`train.compile`: auto compiles the step only when the epochs left repay it; failures fall back to eager."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from sigattn.config import load_config
from sigattn.data.prepare import prepare
from sigattn.train import compiling
from sigattn.train.compiling import StepModule, repays_compiling
from sigattn.train.loop import fit
from sigattn.train.tracker import NullTracker

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["data.synthetic={n_per_class: 2, seconds: 1.0}", "data.window={length: 512, stride: 256}",
        "model.widths=[8, 8, 16, 16]", "train.device=cpu", "train.epochs=3", "train.patience=0"]  # fmt: skip


class Calls:
    """Stands in for torch.compile: counts calls of the 'compiled' module, or raises like a failing compiler."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.calls = fail, 0

    def __call__(self, module: nn.Module):
        def compiled(*inputs):
            self.calls += 1
            if self.fail:
                raise RuntimeError("InductorError: CppCompileError: no C++ compiler\nmore detail")
            return module(*inputs)

        return compiled


class Tags(NullTracker):
    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def set_tags(self, tags: dict[str, str]) -> None:
        self.tags.update(tags)


def test_compiling_repays_only_long_enough_runs():
    assert not repays_compiling(epoch_seconds=1.0, epochs_left=20)  # 4 s saved < 40 s compiling
    assert repays_compiling(epoch_seconds=10.0, epochs_left=20)
    assert not repays_compiling(epoch_seconds=100.0, epochs_left=0)


def test_a_failing_compile_falls_back_to_eager_with_one_line(monkeypatch):
    monkeypatch.setattr(compiling.torch, "compile", Calls(fail=True))
    step, x = StepModule(nn.Linear(3, 2), True), torch.ones(4, 3)
    with pytest.warns(UserWarning, match=r"^train.compile: compiling failed, training eagerly \(InductorError: "
                      r"CppCompileError: no C\+\+ compiler\)$"):  # fmt: skip
        assert step(x).shape == (4, 2)
    assert step.state == "eager (compiling failed)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step(x)  # eager from now on, silently


def test_errors_after_a_successful_compile_are_not_swallowed(monkeypatch):
    fake = Calls()
    monkeypatch.setattr(compiling.torch, "compile", fake)
    step = StepModule(nn.Linear(3, 2), True)
    step(torch.ones(1, 3))
    fake.fail = True
    with pytest.raises(RuntimeError, match="CppCompileError"):
        step(torch.ones(1, 3))


@pytest.mark.parametrize("repays", [True, False])
def test_auto_decides_after_the_first_epoch(tmp_path, monkeypatch, repays):
    fake = Calls()
    monkeypatch.setattr(compiling.torch, "compile", fake)
    monkeypatch.setattr("sigattn.train.compiling.repays_compiling", lambda seconds, left: repays and left == 2)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path}"])
    assert cfg.train.compile == "auto"  # the default
    tracker = Tags()
    fit(cfg, prepare(cfg.data), tracker, progress=False)
    steps_per_epoch = len(prepare(cfg.data).splits["train"]) // 64 + 1
    assert fake.calls == (2 * steps_per_epoch if repays else 0)  # epochs 1 and 2 compiled, epoch 0 eager
    assert tracker.tags["compile"].startswith("compiled (auto: an epoch took" if repays else "eager (auto: an epoch")
    assert tracker.tags["compile"].endswith(", 2 epochs left)")


def test_false_never_compiles(tmp_path, monkeypatch):
    fake = Calls()
    monkeypatch.setattr(compiling.torch, "compile", fake)
    monkeypatch.setattr("sigattn.train.compiling.repays_compiling", lambda seconds, left: True)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path}", "train.compile=false"])
    tracker = Tags()
    fit(cfg, prepare(cfg.data), tracker, progress=False)
    assert fake.calls == 0 and tracker.tags["compile"] == "eager (train.compile false)"
