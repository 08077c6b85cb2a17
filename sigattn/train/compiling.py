"""`train.compile`: whether the training step runs under `torch.compile`, and eager when it cannot.

`true` compiles from the first step. `auto` trains epoch 0 eagerly and compiles from epoch 1 on
when the epochs still planned are long enough to repay a compilation: compiling costs up to
COMPILE_COST_S seconds and saves about COMPILE_SAVING of every later step (measured on CPU,
docs/speed.md). Evaluation and checkpoints always use the plain module. If compiling fails (no C++
compiler, an unsupported op), the step falls back to eager with a one-line warning.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from sigattn.train import distributed

COMPILE_COST_S = 40.0  # the slowest compilation measured on CPU (5-40 s)
COMPILE_SAVING = 0.2  # share of a step's time compilation saved on CPU (1.27x faster)


def repays_compiling(epoch_seconds: float, epochs_left: int) -> bool:
    """True when `epochs_left` epochs of `epoch_seconds` each save more than a compilation costs."""
    return epoch_seconds * epochs_left * COMPILE_SAVING >= COMPILE_COST_S


class StepModule:
    """Calls `module`, or its compiled form once compiling was decided; eager again if compiling fails.
    `state` says which and why (the run's `compile` tag); plain "eager" while `auto` has not decided."""

    def __init__(self, module: nn.Module, setting: bool | str) -> None:
        self.module, self.compiled, self.tried, self.state = module, None, False, "eager"
        if setting != "auto":
            self.decide(bool(setting), f"train.compile {str(setting).lower()}")

    def decide(self, compile_step: bool, reason: str) -> None:
        """Compile from the next call on, or stay eager; `reason` goes into `state`."""
        if compile_step:
            self.compiled, self.tried = torch.compile(self.module), False
        self.state = f"{'compiled' if compile_step else 'eager'} ({reason})"

    def after_epoch(self, seconds: float, epochs_left: int, device: torch.device) -> None:
        """With `auto` still undecided: compile from the next step on if `epochs_left` epochs of
        `seconds` each repay it (rank 0's answer, under torchrun)."""
        if self.state == "eager":
            repays = distributed.from_main([float(repays_compiling(seconds, epochs_left))], device)[0]
            self.decide(bool(repays), f"auto: an epoch took {seconds:.1f} s, {epochs_left} epochs left")

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
