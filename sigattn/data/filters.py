"""Zero-phase filters, resampling and per-window features; numpy in and out, time on the last axis.

Filters are designed once per (kind, parameters, fs) and cached, then applied with
`sosfiltfilt` so they add no phase shift. Filter a whole record, then cut windows.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy.fft import irfft, rfft
from scipy.signal import butter, hilbert, iirnotch, resample_poly, sosfiltfilt, tf2sos

from sigattn.errors import SigattnError

NORMALIZE_METHODS: tuple[str, ...] = ("zscore", "minmax", "none")
_EPS = 1e-8


def _check_fs(fs: float) -> None:
    if not (isinstance(fs, (int, float)) and np.isfinite(fs) and fs > 0):
        raise SigattnError(f"sampling rate fs must be a positive number; got {fs!r}")


def _check_order(order: int) -> None:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= 12:
        raise SigattnError(f"filter order must be an integer from 1 to 12; got {order!r}")


@lru_cache(maxsize=256)
def design_butter(kind: str, cutoff: float | tuple[float, float], fs: float, order: int) -> np.ndarray:
    """Butterworth SOS for `kind` in lowpass/highpass/bandpass; cached, read-only."""
    sos = butter(order, cutoff, btype=kind, fs=fs, output="sos")
    sos.setflags(write=False)
    return sos


@lru_cache(maxsize=64)
def design_notch(freq: float, q: float, fs: float) -> np.ndarray:
    """Second-order IIR notch at `freq` Hz as SOS; cached, read-only."""
    b, a = iirnotch(freq, q, fs=fs)
    sos = tf2sos(b, a)
    sos.setflags(write=False)
    return sos


def _filtfilt(sos: np.ndarray, x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    padlen = 3 * (2 * len(sos) + 1)
    if x.shape[-1] <= padlen:
        raise SigattnError(f"{what} needs a signal longer than {padlen} samples on the last axis; got {x.shape[-1]}")
    out = sosfiltfilt(np.array(sos), x, axis=-1)  # scipy's sosfilt wants a writable copy
    return out.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else out


def bandpass(x: np.ndarray, fs: float, low: float, high: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass between `low` and `high` Hz."""
    _check_fs(fs)
    _check_order(order)
    if not 0 < low < high < fs / 2:
        raise SigattnError(f"bandpass needs 0 < low < high < fs/2; got low={low}, high={high}, fs={fs}")
    return _filtfilt(design_butter("bandpass", (float(low), float(high)), float(fs), int(order)), x, "bandpass")


def highpass(x: np.ndarray, fs: float, cutoff: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth high-pass above `cutoff` Hz."""
    _check_fs(fs)
    _check_order(order)
    if not 0 < cutoff < fs / 2:
        raise SigattnError(f"highpass needs 0 < cutoff < fs/2; got cutoff={cutoff}, fs={fs}")
    return _filtfilt(design_butter("highpass", float(cutoff), float(fs), int(order)), x, "highpass")


def lowpass(x: np.ndarray, fs: float, cutoff: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass below `cutoff` Hz."""
    _check_fs(fs)
    _check_order(order)
    if not 0 < cutoff < fs / 2:
        raise SigattnError(f"lowpass needs 0 < cutoff < fs/2; got cutoff={cutoff}, fs={fs}")
    return _filtfilt(design_butter("lowpass", float(cutoff), float(fs), int(order)), x, "lowpass")


def notch(x: np.ndarray, fs: float, freq: float = 50.0, q: float = 30.0) -> np.ndarray:
    """Zero-phase notch at mains frequency `freq` (50 or 60 Hz) with quality factor `q`."""
    _check_fs(fs)
    if not 0 < freq < fs / 2:
        raise SigattnError(f"notch needs 0 < freq < fs/2; got freq={freq}, fs={fs}")
    if not q > 0:
        raise SigattnError(f"notch quality factor q must be > 0; got {q}")
    return _filtfilt(design_notch(float(freq), float(q), float(fs)), x, "notch")


def remove_baseline(x: np.ndarray, fs: float, cutoff: float = 0.5, order: int = 2) -> np.ndarray:
    """ECG baseline-wander removal: zero-phase Butterworth high-pass at `cutoff` Hz (default 0.5).

    Chosen over the two-median-filter method (200/600 ms) because it is linear, cached and fast
    on whole 30-minute records; zero phase keeps QRS timing.
    """
    _check_fs(fs)
    _check_order(order)
    if not 0 < cutoff < fs / 2:
        raise SigattnError(f"baseline needs 0 < cutoff < fs/2; got cutoff={cutoff}, fs={fs}")
    return _filtfilt(design_butter("highpass", float(cutoff), float(fs), int(order)), x, "baseline")


def resample_ratio(fs: float, target: float, max_denominator: int = 1000) -> tuple[int, int]:
    """Integer (up, down) with up/down ~= target/fs."""
    _check_fs(fs)
    _check_fs(target)
    ratio = Fraction(float(target) / float(fs)).limit_denominator(max_denominator)
    return ratio.numerator, ratio.denominator


def resample(x: np.ndarray, fs: float, target: float) -> tuple[np.ndarray, float]:
    """Polyphase resampling to `target` Hz; returns (signal, new fs)."""
    up, down = resample_ratio(fs, target)
    x = np.asarray(x)
    if up == down:
        return x, float(fs)
    out = resample_poly(x, up, down, axis=-1)
    if np.issubdtype(x.dtype, np.floating):
        out = out.astype(x.dtype, copy=False)
    return out, float(fs) * up / down


def normalize(x: np.ndarray, method: str = "zscore") -> np.ndarray:
    """Per-window, per-channel normalisation along the last axis; flat windows map to zeros."""
    if method not in NORMALIZE_METHODS:
        raise SigattnError(f"normalize method {method!r} is unknown; expected one of: {', '.join(NORMALIZE_METHODS)}")
    x = np.asarray(x)
    if method == "none":
        return x
    if method == "zscore":
        centred = x - x.mean(axis=-1, keepdims=True)
        scale = x.std(axis=-1, keepdims=True)
    else:
        lo = x.min(axis=-1, keepdims=True)
        centred = x - lo
        scale = x.max(axis=-1, keepdims=True) - lo
    out = np.divide(centred, scale, out=np.zeros_like(centred), where=scale > _EPS)
    return out.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else out


def envelope(x: np.ndarray) -> np.ndarray:
    """Amplitude envelope |analytic signal| (Hilbert transform) along the last axis."""
    x = np.asarray(x)
    out = np.abs(hilbert(x, axis=-1))
    return out.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else out


def whiten(x: np.ndarray) -> np.ndarray:
    """Cepstral pre-whitening along the last axis: every frequency bin scaled to magnitude 1, the
    phase kept, DC removed. What a transfer path or a resonance does to a window is a spectral
    envelope, which this removes; impacts stay sharp pulses at their times."""
    x = np.asarray(x)
    spec = rfft(x, axis=-1)
    spec[..., 0] = 0
    magnitude = np.abs(spec)
    floor = 1e-6 * magnitude.max(axis=-1, keepdims=True) + np.finfo(magnitude.dtype).tiny
    out = irfft(spec / np.maximum(magnitude, floor), n=x.shape[-1], axis=-1)
    return out.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else out


def with_envelope(x: np.ndarray, fs: float, low: float, high: float, order: int = 4) -> np.ndarray:
    """`x` (..., C, T) with the Hilbert envelope of its `low`-`high` Hz band appended as C more
    channels. The band's envelope carries bearing fault rhythms (impacts exciting a resonance)
    whatever the defect size; its mean is removed so that it is a rhythm, not a level."""
    env = envelope(bandpass(x, fs, low, high, order))
    env = env - env.mean(axis=-1, keepdims=True)
    return np.concatenate([np.asarray(x, dtype=env.dtype), env], axis=-2)


def spectrum(x: np.ndarray, fs: float | None = None, log: bool = False, max_hz: float | None = None) -> np.ndarray:
    """One-sided magnitude spectrum |rfft| / L along the last axis: length L becomes L//2 + 1.

    `max_hz` keeps the bins up to that frequency (needs `fs`): the band next to Nyquist carries the
    acquisition chain's anti-alias roll-off, which differs between recorders and resamplers, not
    the machine. `log` takes the natural log, floored at 1e-6 of each spectrum's peak: a gain then
    shifts every bin alike, and the weak bands between the resonances weigh as much as the strong
    ones."""
    x = np.asarray(x)
    length = x.shape[-1]
    out = np.abs(rfft(x, axis=-1)) / length
    if max_hz is not None:
        if fs is None or not 0 < max_hz < fs / 2:
            nyquist = "fs/2" if fs is None else f"fs/2 = {fs / 2:g} Hz"
            raise SigattnError(f"transform 'spectrum' option 'max_hz' must be below {nyquist}; got {max_hz:g}")
        out = out[..., : int(max_hz * length / fs) + 1]
    if log:
        floor = 1e-6 * out.max(axis=-1, keepdims=True) + np.finfo(out.dtype).tiny
        out = np.log(out + floor)
    return out.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else out
