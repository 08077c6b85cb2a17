"""`train.compile`: auto compiles the step only when the planned run repays it, judged from the config and
the data alone; failures fall back to eager."""

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
    repays, why = repays_compiling(epochs=30, windows=4296, length=2048)  # the fault-size folds: just below 200 s
    assert not repays
    assert why == ("auto: ~199.6 s of eager training planned (30 epochs x 4,296 windows of 2,048 samples), "
                   "compiling repays from 200 s")  # fmt: skip
    assert repays_compiling(epochs=40, windows=4296, length=2048)[0]
    assert not repays_compiling(epochs=0, windows=10**9, length=2048)[0]
    assert repays_compiling(epochs=20, windows=40000, length=260)[0]  # short windows cost more than their samples
    assert repays_compiling(epochs=1000, windows=10**5, length=2048, device_type="cuda") == (
        False, "auto: compiling is measured to repay only on cpu, not cuda")  # fmt: skip


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
def test_auto_decides_before_the_first_step_from_the_planned_run(tmp_path, monkeypatch, repays):
    fake, asked = Calls(), []
    monkeypatch.setattr(compiling.torch, "compile", fake)

    def decide(epochs, windows, length, device_type):
        asked.append((epochs, windows, length, device_type))
        return repays, "auto: planned"

    monkeypatch.setattr("sigattn.train.compiling.repays_compiling", decide)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path}"])
    assert cfg.train.compile == "auto"  # the default
    tracker, train = Tags(), prepare(cfg.data).splits["train"]
    fit(cfg, prepare(cfg.data), tracker, progress=False)
    assert asked == [(3, len(train), 512, "cpu")]  # the config's epochs, the training windows and their length
    assert fake.calls == (3 * (len(train) // 64 + 1) if repays else 0)  # every step of every epoch, or none
    assert tracker.tags["compile"] == ("compiled (auto: planned)" if repays else "eager (auto: planned)")


def test_false_never_compiles(tmp_path, monkeypatch):
    fake = Calls()
    monkeypatch.setattr(compiling.torch, "compile", fake)
    monkeypatch.setattr("sigattn.train.compiling.repays_compiling", lambda *planned: (True, "auto: planned"))
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path}", "train.compile=false"])
    tracker = Tags()
    fit(cfg, prepare(cfg.data), tracker, progress=False)
    assert fake.calls == 0 and tracker.tags["compile"] == "eager (train.compile false)"
