"""Side features (RR intervals of ECG beats) packed into one extra input channel.

A model with `side_features = F` takes (N, C + 1, L) windows: C signal channels, then one
channel whose first F samples are the side features and the rest zeros. Keeping one input
tensor lets training, export, serving and attention capture treat these models like any other.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from sigattn.errors import SigattnError

ArrayLike = TypeVar("ArrayLike")
RR_FEATURES: tuple[str, ...] = (
    "prev_rr/mean_rr",
    "next_rr/mean_rr",
    "local_rr/mean_rr",
    "mean_rr_s",
    "prev_rr/local_rr",
)


def rr_side_features(rr: np.ndarray) -> np.ndarray:
    """(N, 5) per-record normalised RR features from (N, 4) seconds (previous, next, local, record
    mean; see sigattn.data.mitdb.rr_features): the first three divided by the record mean, the
    mean itself, and the prematurity ratio previous / local RR."""
    rr = np.asarray(rr, dtype=np.float32)
    if rr.ndim != 2 or rr.shape[1] != 4:
        raise SigattnError(f"RR features must be (N, 4) seconds (previous, next, local, mean); got shape {rr.shape}")
    mean = np.maximum(rr[:, 3:4], 1e-3)
    prematurity = rr[:, 0:1] / np.maximum(rr[:, 2:3], 1e-3)
    return np.hstack([rr[:, :3] / mean, rr[:, 3:4], prematurity]).astype(np.float32)


def pack(x: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(N, C + 1, L): `x` (N, C, L) with `side` (N, F) in the first F samples of one more channel."""
    n, _, length = x.shape
    if side.shape[0] != n or side.ndim != 2 or side.shape[1] > length:
        raise SigattnError(f"side features {side.shape} do not fit {n} windows of {length} samples")
    extra = np.zeros((n, 1, length), dtype=np.float32)
    extra[:, 0, : side.shape[1]] = side
    return np.concatenate([np.asarray(x, dtype=np.float32), extra], axis=1)


def unpack(x: ArrayLike, n_side: int) -> tuple[ArrayLike, ArrayLike | None]:
    """(signal (N, C, L), side (N, F) or None) of packed windows, numpy arrays or torch tensors
    alike; the inverse of `pack`."""
    if not n_side:
        return x, None
    return x[:, :-1], x[:, -1, :n_side]
