"""Augmentation of the training batches (`train.augment`); val and test windows are never touched.

Each batch draws one seed from the run's generator (the one that orders the batches, saved in
last.pt), so the same seed gives the same augmented batches and a resumed run the same as a
straight one. The random numbers themselves are drawn on the batch's device. Applied to the
signal input x (B, C, L) only, in this order: shift, stretch, equaliser, amplitude, baseline wander,
noise; wander and noise are scaled by each window's own std (per channel), taken before any change.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
from scipy import signal
from torch import Tensor
from torch.nn import functional as F

from sigattn.config import AugmentConfig


def shift(x: Tensor, max_shift: int, mode: str, g: torch.Generator) -> Tensor:
    """Each window moved by a random whole number of samples in [-max_shift, max_shift]."""
    n, c, length = x.shape
    offsets = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=g, device=x.device)
    idx = torch.arange(length, device=x.device)[None, :] - offsets
    idx = idx % length if mode == "circular" else idx.clamp(0, length - 1)
    return x.gather(2, idx[:, None, :].expand(n, c, length))


def stretch(x: Tensor, amount: float, g: torch.Generator) -> Tensor:
    """Each window resampled in time about its centre by a factor in [1 - amount, 1 + amount]
    (linear interpolation; samples past an edge repeat the edge sample)."""
    n, c, length = x.shape
    factor = 1 + amount * (2 * torch.rand((n, 1), generator=g, device=x.device) - 1)
    centre = (length - 1) / 2
    pos = (centre + (torch.arange(length, device=x.device) - centre) * factor).clamp(0, length - 1)
    lo = pos.floor().long().clamp(max=length - 2) if length > 1 else pos.long()
    frac = (pos - lo).to(x.dtype)[:, None, :]
    left = x.gather(2, lo[:, None, :].expand(n, c, length))
    right = x.gather(2, (lo + 1).clamp(max=length - 1)[:, None, :].expand(n, c, length))
    return left + frac * (right - left)


EQUALIZER_TAPS = 129
EQUALIZER_KNOTS = 2.0 ** -np.arange(7.0, -1.0, -1.0)  # octaves from Nyquist / 128 to Nyquist, as its fraction


@cache
def _equalizer_basis() -> np.ndarray:
    """(9, EQUALIZER_TAPS): `scipy.signal.firwin2` of a unit gain at 0 Hz and at each knot alone. The
    design is linear in the gains, so any filter of the knots is a weighted sum of these rows."""
    freq = np.concatenate([[0.0], EQUALIZER_KNOTS])
    return np.stack([signal.firwin2(EQUALIZER_TAPS, freq, unit) for unit in np.eye(len(freq))])


def equalizer_taps(gains_db: np.ndarray) -> np.ndarray:
    """(B, EQUALIZER_TAPS) linear-phase FIR filters, as `scipy.signal.firwin2` designs them, whose
    gain passes through `gains_db` (B, 8) at the octave knots and the first knot's gain at 0 Hz."""
    gains = 10.0 ** (np.concatenate([gains_db[:, :1], gains_db], axis=1) / 20.0)
    return gains @ _equalizer_basis()


def equalize(x: Tensor, max_db: float, g: torch.Generator) -> Tensor:
    """Each window through its own random equaliser (`scipy.signal.fftconvolve`): a gain uniform in
    ±`max_db` dB at each octave knot (see `equalizer_taps`), the same for the window's channels;
    edges repeat the edge sample."""
    gains = max_db * (2 * torch.rand((len(x), len(EQUALIZER_KNOTS)), generator=g, device=x.device) - 1)
    taps = equalizer_taps(gains.cpu().double().numpy()).astype(np.float32)
    half = EQUALIZER_TAPS // 2
    padded = F.pad(x.float(), (half, half), mode="replicate").cpu().numpy()
    out = signal.fftconvolve(padded, taps[:, None, :], mode="valid", axes=-1)
    return torch.as_tensor(out, device=x.device).to(x.dtype)


def wander(x: Tensor, std: Tensor, amplitude: float, max_hz: float, fs: float, g: torch.Generator) -> Tensor:
    """A sinusoid per window and channel: peak up to `amplitude`·std, frequency in (0, max_hz], random phase."""
    n, c, length = x.shape
    peak, freq, phase = torch.rand((3, n, c, 1), generator=g, device=x.device, dtype=x.dtype)
    t = torch.arange(length, device=x.device, dtype=x.dtype) / fs
    return x + amplitude * std * peak * torch.sin(2 * math.pi * (max_hz * (1 - freq) * t + phase))


class Augmenter:
    """Applies `cfg` to a batch's inputs (x first); inactive, it returns them and draws nothing."""

    def __init__(self, cfg: AugmentConfig, fs: float, rank: int = 0) -> None:
        self.cfg, self.fs, self.rank = cfg, float(fs), rank

    def __call__(self, inputs: tuple[Tensor, ...], generator: torch.Generator) -> tuple[Tensor, ...]:
        if not self.cfg.active:
            return inputs
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        x = inputs[0]
        g = torch.Generator(device=x.device).manual_seed(seed + self.rank)  # each process its own draws
        return (self.apply(x, g), *inputs[1:])

    def apply(self, x: Tensor, g: torch.Generator) -> Tensor:
        """`x` (B, C, L) augmented with draws from `g` (on x's device)."""
        a = self.cfg
        std = x.float().std(dim=-1, keepdim=True).to(x.dtype) if (a.noise or a.baseline_wander) else None
        if a.shift:
            x = shift(x, a.shift, a.shift_mode, g)
        if a.stretch:
            x = stretch(x, a.stretch, g)
        if a.equalizer_db:
            x = equalize(x, a.equalizer_db, g)
        if a.amplitude:
            low, high = a.amplitude
            x = x * (low + (high - low) * torch.rand((len(x), 1, 1), generator=g, device=x.device, dtype=x.dtype))
        if a.baseline_wander:
            x = wander(x, std, a.baseline_wander.amplitude, a.baseline_wander.max_hz, self.fs, g)
        if a.noise:
            x = x + a.noise * std * torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
        return x
