"""Beats of one record: RR features, windows cut around R peaks, amplitude and neighbour context.

`cut_beats` is the one path from a record and its R peaks to model-ready beat windows, used by
the training data (annotated beats) and by predict (annotated or detected beats). The per-record
options work on the beats of one record only, in R-peak order, and never look at labels.
The R peak of every window sits at index `before`. RR features (seconds, at the record's own
rate): previous RR, next RR, local RR (mean of the previous RR of this beat and up to 9 before
it, i.e. at most 10 intervals) and the record's average RR. The first beat takes its next RR
as its previous RR; the last beat takes its previous RR as its next RR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sigattn.config.data import AMPLITUDES, BEAT_CONTEXTS
from sigattn.errors import SigattnError


def record_amplitude(beats: np.ndarray, before: int, method: str) -> np.ndarray:
    """The beats of one record with `method` applied per channel.

    `window`: unchanged (the window transforms normalise each window); `record-median-r`:
    divided by the median |R-peak sample| of the record's beats (flat records are left as they
    are); `record-median-beat`: the record's median beat (sample-wise median) subtracted.
    """
    if method not in AMPLITUDES:
        raise SigattnError(f"beat amplitude must be one of: {', '.join(AMPLITUDES)}; got {method!r}")
    beats = np.asarray(beats, dtype=np.float32)
    if method == "window" or len(beats) == 0:
        return beats
    if method == "record-median-r":
        scale = np.median(np.abs(beats[:, :, before]), axis=0)  # (C,)
        scale = np.where(scale > 1e-12, scale, 1.0)
        return (beats / scale[None, :, None]).astype(np.float32)
    return (beats - np.median(beats, axis=0, keepdims=True)).astype(np.float32)


def neighbour_context(beats: np.ndarray, context: str) -> np.ndarray:
    """(N, C, L) beats of one record -> (N, 3C, L) previous | current | next beat windows for
    `neighbours` (the first beat is its own previous, the last its own next); unchanged for `none`."""
    if context not in BEAT_CONTEXTS:
        raise SigattnError(f"beat context must be one of: {', '.join(BEAT_CONTEXTS)}; got {context!r}")
    if context == "none" or len(beats) == 0:
        return beats
    prev = np.concatenate([beats[:1], beats[:-1]])
    nxt = np.concatenate([beats[1:], beats[-1:]])
    return np.ascontiguousarray(np.concatenate([prev, beats, nxt], axis=1))


LOCAL_RR_BEATS = 10


class RecordPipeline(Protocol):
    """Whole-record preprocessing applied before beats are cut (e.g. filter, resample)."""

    def apply_record(self, signal: np.ndarray, fs: float) -> tuple[np.ndarray, float]: ...


def rr_features(samples: np.ndarray, fs: float) -> np.ndarray:
    """(N, 4) float32 RR features of beats at `samples`: previous, next, local and record mean RR (s)."""
    if samples.size < 2:
        raise SigattnError(f"RR features need at least 2 beats; got {samples.size}")
    rr = np.diff(samples).astype(np.float64) / fs
    prev = np.concatenate([rr[:1], rr])
    nxt = np.concatenate([rr, rr[-1:]])
    csum = np.concatenate([[0.0], np.cumsum(prev)])
    idx = np.arange(prev.size)
    lo = np.maximum(0, idx + 1 - LOCAL_RR_BEATS)
    local = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
    mean = np.full_like(prev, rr.mean())
    return np.stack([prev, nxt, local, mean], axis=1).astype(np.float32)


@dataclass(frozen=True)
class RecordBeats:
    """The beats of one record: windows (N, C, L), R peaks at the output rate, RR features (N, 4) and that rate."""

    x: np.ndarray
    peaks: np.ndarray
    features: np.ndarray
    fs: float


def cut_beats(
    signal: np.ndarray,
    fs: float,
    peaks: np.ndarray,
    *,
    before: int,
    after: int,
    pipeline: RecordPipeline | None = None,
    amplitude: str = "window",
    context: str = "none",
    source: str = "record",
) -> RecordBeats:
    """Beat windows of one (C, T) record around sorted R peaks `peaks` (samples at `fs`), as at training.

    RR features come from `peaks` at the record's own rate; `pipeline.apply_record` then runs on
    the whole record, the peaks are rescaled to the rate it returns, the record is edge-padded
    so every beat gets a window (starting at peak - before), and `amplitude`/`context` apply.
    """
    if peaks.size < 2:
        raise SigattnError(f"{source}: {peaks.size} beats; RR features need at least 2")
    features = rr_features(peaks, fs)
    signal, out_fs = np.asarray(signal, dtype=np.float32), fs
    if pipeline is not None:
        signal, out_fs = pipeline.apply_record(signal, fs)
        signal = np.asarray(signal, dtype=np.float32)
        if signal.ndim != 2 or signal.shape[1] == 0 or not np.isfinite(signal).all():
            raise SigattnError(f"{source}: pipeline returned {signal.shape}; expected finite (C, T)")
        if out_fs != fs:
            peaks = np.round(peaks * (out_fs / fs)).astype(np.int64)
            peaks = np.clip(peaks, 0, signal.shape[1] - 1)
    padded = np.pad(signal, ((0, 0), (before, after)), mode="edge")
    views = np.lib.stride_tricks.sliding_window_view(padded, before + after, axis=1)
    beats = views[:, peaks].transpose(1, 0, 2)  # (N, C, L); window i starts at peaks[i] - before
    beats = neighbour_context(record_amplitude(beats, before, amplitude), context)
    return RecordBeats(np.ascontiguousarray(beats), np.asarray(peaks, np.int64), features, float(out_fs))
