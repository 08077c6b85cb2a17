"""Side features: what a beat model reads beside the signal, as its second input (N, F).

`RR_FEATURES` names the RR features of ECG beats; `Windows.side` carries them and a model with
`side_features = F` takes them as `model(x, side)`. `SideStats` standardises them with the
mean and standard deviation of the training split alone, so val, test and other databases are
scaled the way the model was trained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sigattn.errors import SigattnError

RR_FEATURES: tuple[str, ...] = (
    "prev_rr/mean_rr",
    "next_rr/mean_rr",
    "local_rr/mean_rr",
    "mean_rr_s",
    "prev_rr/local_rr",
    "prev_rr/next_rr",
)
_MIN_STD = 1e-6  # a constant feature is centred, not divided by ~0


def rr_side_features(rr: np.ndarray) -> np.ndarray:
    """(N, 6) per-record normalised RR features from (N, 4) seconds (previous, next, local, record
    mean; see sigattn.data.mitdb.rr_features): the first three divided by the record mean, the
    mean itself, the prematurity ratio previous / local RR and the ratio previous / next RR."""
    rr = np.asarray(rr, dtype=np.float32)
    if rr.ndim != 2 or rr.shape[1] != 4:
        raise SigattnError(f"RR features must be (N, 4) seconds (previous, next, local, mean); got shape {rr.shape}")
    mean = np.maximum(rr[:, 3:4], 1e-3)
    prematurity = rr[:, 0:1] / np.maximum(rr[:, 2:3], 1e-3)
    prev_next = rr[:, 0:1] / np.maximum(rr[:, 1:2], 1e-3)
    return np.hstack([rr[:, :3] / mean, rr[:, 3:4], prematurity, prev_next]).astype(np.float32)


@dataclass(frozen=True)
class SideStats:
    """Per-feature mean and standard deviation of side features, fitted on one split."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, side: np.ndarray, names: Sequence[str] = RR_FEATURES) -> SideStats:
        """Statistics of (N, F) `side` (the training split's); std below 1e-6 counts as 1."""
        side = np.asarray(side, dtype=np.float64)
        if side.ndim != 2 or side.shape[1] != len(names) or len(side) == 0:
            raise SigattnError(f"side statistics need (N>0, {len(names)}) features; got shape {side.shape}")
        std = side.std(axis=0)
        std = np.where(std < _MIN_STD, 1.0, std)
        return cls(tuple(names), tuple(float(v) for v in side.mean(axis=0)), tuple(float(v) for v in std))

    def apply(self, side: np.ndarray) -> np.ndarray:
        """(N, F) `side` standardised with these statistics, float32."""
        side = np.asarray(side, dtype=np.float32)
        if side.ndim != 2 or side.shape[1] != len(self.names):
            raise SigattnError(f"side features must be (N, {len(self.names)}); got shape {side.shape}")
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        return ((side - mean) / std).astype(np.float32)

    def to_dict(self) -> dict[str, list[Any]]:
        """Plain JSON-ready data that `from_dict` reads back (for caches and checkpoint metadata)."""
        return {"names": list(self.names), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SideStats:
        """Read back `to_dict` output; names, mean and std must be lists of one length."""
        try:
            names, mean, std = tuple(data["names"]), tuple(data["mean"]), tuple(data["std"])
        except (KeyError, TypeError):
            raise SigattnError(f"side statistics need keys names, mean, std; got {data!r}") from None
        if not len(names) == len(mean) == len(std):
            raise SigattnError(f"side statistics names/mean/std differ in length: {len(names)}/{len(mean)}/{len(std)}")
        return cls(tuple(map(str, names)), tuple(map(float, mean)), tuple(map(float, std)))
