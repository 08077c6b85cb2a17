"""Predict on raw windows: (N, C, L) samples at the model's rate, prepared as the model was trained.

Each window goes through the model's own transforms as `sigattn predict` runs them on a file
holding just that window: the record-level steps (filters) on the window, then the window-level
steps (normalisation). A beat model's side features arrive raw, as
`sigattn.data.side.rr_side_features` computes them, and are standardised with the training
split's statistics stored in the model (`ModelMeta.side_stats`). Bad input is a one-line
`SigattnError`, never a silent guess.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from sigattn.data.side import SideStats
from sigattn.data.transforms import Pipeline
from sigattn.errors import SigattnError
from sigattn.evaluate.predict import predict_proba
from sigattn.models.meta import ModelMeta


def _numeric(value: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """`value` as a finite float32 array of `shape` (-1: any size), or a SigattnError naming `name`."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged lists
        raise SigattnError(f"{name} must be a numeric array of shape {_shape(shape)}; got ragged data") from None
    if array.dtype.kind not in "iuf":
        raise SigattnError(f"{name} must hold numbers (integers or floats); got dtype {array.dtype}")
    if array.ndim != len(shape) or any(s != -1 and s != n for s, n in zip(shape, array.shape, strict=True)):
        raise SigattnError(f"{name} must have shape {_shape(shape)}; got {tuple(array.shape)}")
    if len(array) == 0:
        raise SigattnError(f"{name} holds no rows; send at least one")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise SigattnError(f"{name} holds NaN or infinite values; send finite numbers")
    return array


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join("N" if s == -1 else str(s) for s in shape) + ")"


def refusal(meta: ModelMeta) -> str | None:
    """Why raw windows cannot reproduce what this model was trained on, or None."""
    amplitude = (meta.config.get("data") or {}).get("amplitude", "window")
    if meta.beat is not None and amplitude != "window":
        return (
            f"this beat model scales each record's beats together (data.amplitude {amplitude!r}), which windows "
            "sent one by one cannot reproduce; evaluate it with `sigattn eval` instead"
        )
    if meta.side_features and meta.side_stats is None:
        return "this model reads side features but carries no statistics to standardise them; retrain it"
    return None


def prepare_raw(meta: ModelMeta, x: object, side: object | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw windows `x` (N, C, L) and, for a beat model, raw side features `side` (N, F), as the model reads them."""
    why = refusal(meta)
    if why:
        raise SigattnError(why)
    x = _numeric(x, "x (raw windows)", (-1, meta.signal_channels, meta.window_length))
    names = meta.side_features
    if not names and side is not None:
        raise SigattnError("this model reads no side features; send the windows x alone")
    if names and side is None:
        raise SigattnError(f"this model also reads side features: send `side` (N, {len(names)}): {', '.join(names)}")
    pipeline = Pipeline(list(meta.transforms))
    signal, fs = pipeline.apply_record(x, meta.fs)  # each window as its own record, as `sigattn predict` does
    prepared = np.asarray(pipeline.apply_windows(np.asarray(signal, dtype=np.float32), fs), dtype=np.float32)
    if not names:
        return prepared, None
    side = _numeric(side, "side (raw side features)", (-1, len(names)))
    if len(side) != len(x):
        raise SigattnError(f"side has {len(side)} rows but x has {len(x)} windows; send one row per window")
    stats = SideStats.from_dict(meta.side_stats or {})
    if stats.names != tuple(names):
        raise SigattnError(
            f"the model's side statistics name {list(stats.names)}, its inputs {list(names)}; retrain it"
        )
    return prepared, stats.apply(side)


def predict_raw(
    model: nn.Module, meta: ModelMeta, x: object, side: object | None = None, batch_size: int = 1024
) -> np.ndarray:
    """Class probabilities (N, K), in the order of `meta.classes`, for raw windows (see `prepare_raw`)."""
    prepared, standardised = prepare_raw(meta, x, side)
    return predict_proba(model, prepared, batch_size, side=standardised)
