"""Sliding windows over (C, T) recordings as views, plus helpers to subset and join `Windows`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sigattn.data.types import Recording, Windows
from sigattn.errors import SigattnError


def _check_sizes(length: int, stride: int) -> None:
    for key, value in (("window length", length), ("window stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise SigattnError(f"{key} must be a positive integer; got {value!r}")


def count_windows(n_samples: int, length: int, stride: int) -> int:
    """Number of full windows: floor((n_samples - length) / stride) + 1, or 0 if too short."""
    _check_sizes(length, stride)
    return 0 if n_samples < length else (n_samples - length) // stride + 1


def sliding_windows(
    signal: np.ndarray, length: int, stride: int, *, source: str = "signal"
) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, L) read-only views of `signal` (C, T) and the (N,) int64 start of each window.

    No data is copied until the caller materialises the views (e.g. np.ascontiguousarray).
    """
    _check_sizes(length, stride)
    signal = np.asarray(signal)
    if signal.ndim != 2:
        raise SigattnError(f"{source}: signal must be (channels, samples); got shape {signal.shape}")
    n = count_windows(signal.shape[-1], length, stride)
    if n == 0:
        raise SigattnError(f"{source}: {signal.shape[-1]} samples is shorter than one window of {length} samples")
    views = sliding_window_view(signal, length, axis=-1)[:, ::stride][:, :n]  # (C, N, L)
    return views.transpose(1, 0, 2), np.arange(n, dtype=np.int64) * stride


def window_spans(
    recordings: Sequence[Recording],
    spans: Sequence[tuple[int, int, int]],
    length: int,
    stride: int,
    classes: Sequence[str],
) -> Windows:
    """Materialise windows of `recordings[i].signal[:, start:stop]` for each (i, start, stop).

    Window starts are reported in samples of the whole recording, so the leakage audit can
    compare windows cut from different spans of one recording.
    """
    index = {name: k for k, name in enumerate(classes)}
    xs, ys, groups, sources, starts = [], [], [], [], []
    for i, start, stop in spans:
        rec = recordings[i]
        if rec.label not in index:
            raise SigattnError(f"{rec.source}: label {rec.label!r} is not one of the classes {tuple(classes)}")
        views, offs = sliding_windows(rec.signal[:, start:stop], length, stride, source=rec.source)
        xs.append(views)
        ys.append(np.full(len(offs), index[rec.label], dtype=np.int64))
        groups.append(np.full(len(offs), rec.group))
        sources.append(np.full(len(offs), rec.source))
        starts.append(offs + start)
    if not xs:
        raise SigattnError("no recordings to cut into windows")
    fs = {float(recordings[i].fs) for i, _, _ in spans}
    if len(fs) > 1:
        raise SigattnError(f"recordings have different sampling rates {sorted(fs)}; add a 'resample' transform")
    return Windows(
        x=np.concatenate(xs).astype(np.float32, copy=False),
        y=np.concatenate(ys),
        classes=tuple(classes),
        groups=np.concatenate(groups).astype(str),
        sources=np.concatenate(sources).astype(str),
        starts=np.concatenate(starts).astype(np.int64),
        fs=fs.pop(),
    )


def take(w: Windows, index: np.ndarray) -> Windows:
    """The windows selected by a boolean mask or integer index."""
    return Windows(
        x=w.x[index],
        y=w.y[index],
        classes=w.classes,
        groups=w.groups[index],
        sources=w.sources[index],
        starts=w.starts[index],
        fs=w.fs,
        features=None if w.features is None else w.features[index],
        side=None if w.side is None else w.side[index],
    )


def concat(parts: Sequence[Windows]) -> Windows:
    """Join windows that share classes and sampling rate."""
    if not parts:
        raise SigattnError("nothing to concatenate: no windows given")
    first = parts[0]
    for p in parts[1:]:
        if p.classes != first.classes or p.fs != first.fs:
            raise SigattnError(
                f"cannot join windows with classes {p.classes} at {p.fs} Hz "
                f"to windows with classes {first.classes} at {first.fs} Hz"
            )
    feats, sides = [p.features for p in parts], [p.side for p in parts]
    for arrays in (feats, sides):
        if any(a is None for a in arrays) and not all(a is None for a in arrays):
            raise SigattnError("cannot join windows where only some carry side features")
    return Windows(
        x=np.concatenate([p.x for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        classes=first.classes,
        groups=np.concatenate([p.groups for p in parts]),
        sources=np.concatenate([p.sources for p in parts]),
        starts=np.concatenate([p.starts for p in parts]),
        fs=first.fs,
        features=None if feats[0] is None else np.concatenate(feats),
        side=None if sides[0] is None else np.concatenate(sides),
    )


def with_x(w: Windows, x: np.ndarray) -> Windows:
    """The same windows with new sample data (e.g. after window-level transforms)."""
    return replace(w, x=x)
