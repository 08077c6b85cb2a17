"""Per-record beat options: amplitude normalisation and neighbour context of (N, C, L) beat windows.

Both work on the beats of one record only, in R-peak order, and never look at labels.
The R peak of every window sits at index `before`.
"""

from __future__ import annotations

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
