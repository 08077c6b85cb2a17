"""How far apart the class-average temporal maps are, beside a sampling-noise control.

`class_distance(maps, y, classes)` gives, for every pair of classes with windows, the mean absolute
difference over input samples between their mean maps (`"S-V"`, pairs in class order), and the
same distance between the means of two seeded random halves of one class's windows
(`"N-N(halves)"`; N where it is a class, else the class with the most windows). A pair that is no
further apart than the halves differs by no more than two samples of one class do. Each half has
about half that class's windows; a class with few windows has a noisier mean than that.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from sigattn.errors import SigattnError

CONTROL_CLASS = "N"


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(np.mean(np.abs(a.mean(axis=0) - b.mean(axis=0)))), 5)


def class_distance(maps: np.ndarray, y: np.ndarray, classes: Sequence[str], *, seed: int = 0) -> dict[str, float]:
    """{"A-B": mean |mean map of A - mean map of B|, ..., "<C>-<C>(halves)": the control} for
    `maps` (N, L) on input samples and class indices `y` (N,); the control needs >= 2 windows."""
    maps, y = np.asarray(maps, dtype=np.float64), np.asarray(y).ravel()
    if maps.ndim != 2 or len(maps) != len(y):
        raise SigattnError(f"class_distance needs maps (N, L) and y (N,); got {maps.shape} and {y.shape}")
    counts = np.bincount(y, minlength=len(classes))
    present = [c for c in range(len(classes)) if counts[c]]
    out = {f"{classes[a]}-{classes[b]}": _distance(maps[y == a], maps[y == b]) for a, b in combinations(present, 2)}
    control = list(classes).index(CONTROL_CLASS) if CONTROL_CLASS in classes else int(np.argmax(counts))
    if counts[control] >= 2:
        mine = np.random.default_rng(seed).permutation(np.flatnonzero(y == control))
        half = len(mine) // 2
        out[f"{classes[control]}-{classes[control]}(halves)"] = _distance(maps[mine[:half]], maps[mine[half:]])
    return out
