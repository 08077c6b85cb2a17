"""Side features: what a beat model reads beside the signal, as its second input (N, F).

`RR_FEATURES` names the RR features of ECG beats; `Windows.side` carries them and a model with
`side_features = F` takes them as `model(x, side)`.
"""

from __future__ import annotations

import numpy as np

from sigattn.errors import SigattnError

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
