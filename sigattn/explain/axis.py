"""What the last axis of a model input is: samples of a time signal, or the rfft bins of a spectrum.

A model whose window-level transforms include `spectrum` reads bin k at k * fs / L Hz, L the signal
window length before those transforms (`max_hz` drops top bins, not the spacing); any other model
reads samples 1 / fs s apart. `InputAxis` is the one place that decides the figures' axis labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sigattn.data.transforms import Pipeline


@dataclass(frozen=True)
class InputAxis:
    """Positions of the input's last axis: samples at `fs` Hz, or with `spectrum_of` set, rfft bins of
    windows of that many samples, of log magnitude if `log`. Without `fs`: bare indices."""

    fs: float | None = None
    spectrum_of: int | None = None
    log: bool = False

    @property
    def is_time(self) -> bool:
        return self.spectrum_of is None

    @property
    def label(self) -> str:
        """The x label: "time (s)", "frequency (Hz)", or "time (samples)" / "frequency (bins)" without fs."""
        if self.is_time:
            return "time (s)" if self.fs else "time (samples)"
        return "frequency (Hz)" if self.fs else "frequency (bins)"

    @property
    def trace_label(self) -> str:
        """The y label of a window's first channel."""
        if self.is_time:
            return "amplitude (ch 0)"
        return "log magnitude (ch 0)" if self.log else "magnitude (ch 0)"

    def at(self, index: np.ndarray) -> np.ndarray:
        """Input positions (sample or bin indices) in the unit of `label`."""
        index = np.asarray(index, dtype=np.float64)
        if not self.fs:
            return index
        return index / self.fs if self.is_time else index * self.fs / self.spectrum_of


def input_axis(transforms: Sequence[Mapping[str, Any]], fs: float | None, window_length: int) -> InputAxis:
    """The axis of a model fed `transforms` (as in a config or `ModelMeta`) on windows of `window_length`
    samples at `fs` Hz: frequency when a window-level `spectrum` step makes the input, else time."""
    spectra = [step for step in Pipeline(transforms).window_steps if step["name"] == "spectrum"]
    if not spectra:
        return InputAxis(fs or None)
    return InputAxis(fs or None, spectrum_of=int(window_length), log=bool(spectra[-1]["log"]))
