"""`train.compile`: whether the training step runs under `torch.compile`, and eager when it cannot.

`true` compiles from the first step; `false` never. `auto` compiles from the first step when the
run's planned work repays a compilation, judged from the config and the data alone, never from a
measured time, so one run makes the same choice on a busy machine and a quiet one (and so gives
the same numbers). The planned eager training time is estimated as epochs x training windows x
(window length + WINDOW_OVERHEAD_SAMPLES) / EAGER_SAMPLES_PER_S, the rate of the default `cnn` on
one CPU core; compiling costs up to COMPILE_COST_S and saves about COMPILE_SAVING of every step
(measured on CPU, docs/speed.md). Elsewhere than on a CPU, where none of this was measured, `auto`
trains eagerly. Evaluation and checkpoints always use the plain module. If compiling fails (no C++
compiler, an unsupported op), the step falls back to eager with a one-line warning.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

COMPILE_COST_S = 40.0  # the slowest compilation measured on CPU (5-40 s)
COMPILE_SAVING = 0.2  # share of a step's time compilation saved on CPU (1.27x faster)
EAGER_SAMPLES_PER_S = 1.4e6  # eager training of the default cnn on one core of a 2-vCPU Xeon (docs/speed.md)
WINDOW_OVERHEAD_SAMPLES = 120  # a window costs this many samples more than its length (benchmarks/eager_rate.py)


def planned_eager_seconds(epochs: int, windows: int, length: int) -> float:
    """Estimated eager training time of `epochs` epochs of `windows` windows of `length` samples."""
    return epochs * windows * (length + WINDOW_OVERHEAD_SAMPLES) / EAGER_SAMPLES_PER_S


def repays_compiling(epochs: int, windows: int, length: int, device_type: str = "cpu") -> tuple[bool, str]:
    """Whether compiling repays itself on a run of `epochs` x `windows` windows of `length` samples,
    and why, in words for the run's `compile` tag."""
    if device_type != "cpu":
        return False, f"auto: compiling is measured to repay only on cpu, not {device_type}"
    seconds = planned_eager_seconds(epochs, windows, length)
    repays = seconds * COMPILE_SAVING >= COMPILE_COST_S
    planned = (
        f"~{seconds:.1f} s of eager training planned ({epochs} epochs x {windows:,} windows of {length:,} samples)"
    )
    return repays, f"auto: {planned}, compiling repays from {COMPILE_COST_S / COMPILE_SAVING:.0f} s"


class StepModule:
    """Calls `module`, or its compiled form when compiling was chosen; eager again if compiling fails.
    `state` says which and why (the run's `compile` tag)."""

    def __init__(
        self, module: nn.Module, setting: bool | str, planned: tuple[int, int, int] = (0, 0, 0), device: str = "cpu"
    ) -> None:
        """`planned`: (epochs, training windows, window length) on `device` (a type), what `auto` decides from."""
        self.module, self.compiled, self.tried = module, None, False
        if setting == "auto":
            compile_step, reason = repays_compiling(*planned, device)
        else:
            compile_step, reason = bool(setting), f"train.compile {str(setting).lower()}"
        if compile_step:
            self.compiled = torch.compile(self.module)
        self.state = f"{'compiled' if compile_step else 'eager'} ({reason})"

    def train(self) -> None:
        self.module.train()

    def __call__(self, *inputs: Any) -> torch.Tensor:
        if self.compiled is None:
            return self.module(*inputs)
        if self.tried:
            return self.compiled(*inputs)
        try:  # compilation happens on the first call, before any weight changes
            out = self.compiled(*inputs)
        except Exception as e:  # noqa: BLE001 (any compiler failure means: train eagerly)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            warnings.warn(f"train.compile: compiling failed, training eagerly ({first})", UserWarning, stacklevel=2)
            self.compiled, self.state = None, "eager (compiling failed)"
            return self.module(*inputs)
        self.tried = True
        return out
