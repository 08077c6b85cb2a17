"""The shapes data takes on its way to the model: recordings in, labelled windows out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Recording:
    """One continuous recording: `signal` is (channels, samples) float32 at `fs` Hz.

    `group` is what a split must keep whole (recording, patient, machine, load);
    `meta` carries dataset facts such as rpm, load_hp, fault diameter or lead names.
    """

    signal: np.ndarray
    fs: float
    label: str
    group: str
    source: str
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Windows:
    """Model-ready windows of one split.

    x: (N, C, L) float32; y: (N,) int64 indices into `classes`; groups: (N,) str;
    sources: (N,) str recording ids; starts: (N,) int64 first sample of each window in
    its recording (after resampling); features: optional (N, F) float32 facts of each window
    (e.g. RR intervals of ECG beats, in seconds); side: optional (N, S) float32 second model input
    (e.g. the normalised RR features a beat model reads beside the signal).
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    groups: np.ndarray
    sources: np.ndarray
    starts: np.ndarray
    fs: float
    features: np.ndarray | None = None
    side: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, counts, strict=True)}
