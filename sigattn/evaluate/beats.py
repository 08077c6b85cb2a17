"""Beat-by-beat prediction on WFDB records with a beat model (trained on mitdb or wfdb-beats).

Beats come from the record's annotation file (`beats="annotations"`, AAMI beat symbols only) or
from a maintained QRS detector (`beats="detect"`: wfdb.processing.XQRS, its peaks moved to the
local maximum with wfdb.processing.correct_peaks). Each beat then goes through
sigattn.data.beats.cut_beats with the model's geometry, transforms, amplitude and context, the
same function the training data goes through; RR features are standardised with the training
split's statistics stored in the checkpoint. A record at another rate than the model's is
resampled to it (scipy.signal.resample_poly) when the model has no resample step of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import wfdb
import wfdb.processing

from sigattn.config import DataConfig
from sigattn.data.beats import cut_beats
from sigattn.data.mitdb import AAMI_MAP
from sigattn.data.side import SideStats, rr_side_features
from sigattn.data.transforms import Pipeline
from sigattn.data.types import Windows
from sigattn.data.wfdb_records import read_annotations, read_lead
from sigattn.data.windows import concat
from sigattn.errors import SigattnError
from sigattn.models.meta import ModelMeta

BeatSource = Literal["annotations", "detect"]
BEAT_SOURCES: tuple[str, ...] = ("annotations", "detect")


@dataclass(frozen=True)
class BeatInputs:
    """Model inputs of one record: beat windows, standardised side features or None, and where the beats are."""

    x: np.ndarray
    side: np.ndarray | None
    samples: np.ndarray  # R peaks in the record's own samples
    fs: float  # the record's own rate
    note: str | None = None  # e.g. "resampled 250 Hz to 360 Hz"


def detect_beats(signal: np.ndarray, fs: float) -> np.ndarray:
    """R-peak samples of a 1D signal (mV) by XQRS, each moved to the nearest local maximum within 50 ms."""
    try:
        peaks = wfdb.processing.xqrs_detect(sig=signal.astype(np.float64), fs=fs, verbose=False)
    except Exception as e:  # XQRS fails on flat or very short signals
        raise SigattnError(f"QRS detection failed ({type(e).__name__}: {e})") from None
    if len(peaks) == 0:
        return np.zeros(0, dtype=np.int64)
    radius, smooth = max(1, round(0.05 * fs)), max(1, round(0.1 * fs))
    peaks = wfdb.processing.correct_peaks(signal, peaks, radius, smooth, peak_dir="compare")
    return np.unique(np.asarray(peaks, dtype=np.int64).clip(0, signal.size - 1))


def _pipeline(meta: ModelMeta, fs: float) -> tuple[Pipeline, str | None]:
    pipeline = Pipeline(list(meta.transforms))
    if any(step["name"] == "resample" for step in pipeline.record_steps) or np.isclose(fs, meta.fs):
        return pipeline, None
    resample = {"name": "resample", "target": meta.fs}
    note = f"resampled {fs:g} Hz to the model's {meta.fs:g} Hz (scipy.signal.resample_poly)"
    return Pipeline([resample, *pipeline.record_steps, *pipeline.window_steps]), note


def record_inputs(
    path: str | Path, meta: ModelMeta, *, beats: str = "annotations", annotation: str = "atr"
) -> BeatInputs:
    """Beat windows (and side features) of WFDB record `path` (.hea, or the path without suffix) for `meta`'s model."""
    if meta.beat is None:
        raise SigattnError(
            f"{path}: the model was not trained on beats; predict slides windows over it without --beats"
        )
    if beats not in BEAT_SOURCES:
        raise SigattnError(f"--beats must be one of: {', '.join(BEAT_SOURCES)}; got {beats!r}")
    path = Path(path)
    base = path.with_suffix("") if path.suffix == ".hea" else path
    if not base.with_name(f"{base.name}.hea").is_file():
        raise SigattnError(f"{path}: no WFDB header {base.name}.hea; beat models predict on WFDB records")
    x, fs, _ = read_lead(base, meta.beat.lead.split(","))
    if beats == "annotations":
        samples, symbols = read_annotations(base, annotation, x.size)
        samples = np.sort(samples[[s in AAMI_MAP for s in symbols]])
    else:
        samples = detect_beats(x, fs)
    if samples.size < 2:
        how = f"beat annotations in {base.name}.{annotation}" if beats == "annotations" else "beats detected"
        raise SigattnError(f"{path}: {samples.size} {how}; RR features and beat context need at least 2")
    pipeline, note = _pipeline(meta, fs)
    data = dict(meta.config.get("data") or {})
    cut = cut_beats(x[None, :], fs, samples, before=meta.beat.before, after=meta.beat.after, pipeline=pipeline,
                    amplitude=data.get("amplitude", "window"), context=data.get("beat_context", "none"),
                    source=str(path))  # fmt: skip
    windows = np.asarray(pipeline.apply_windows(cut.x, cut.fs), dtype=np.float32)
    if windows.shape[1:] != (meta.in_channels, meta.window_length):
        raise SigattnError(f"{path}: beats of shape {windows.shape[1:]}; the model expects "
                           f"({meta.in_channels}, {meta.window_length})")  # fmt: skip
    side = None
    if meta.side_features:
        if meta.side_stats is None:
            raise SigattnError(f"{path}: the checkpoint has no side-feature statistics; retrain with this sigattn")
        side = SideStats.from_dict(meta.side_stats).apply(rr_side_features(cut.features))
    return BeatInputs(windows, side, samples, fs, note)


def write_beat_annotations(
    folder: Path, record: str, samples: np.ndarray, labels: list[str], extension: str, fs: float
) -> Path:
    """`<folder>/<record>.<extension>`: one WFDB annotation per beat, its predicted AAMI class as the symbol."""
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrann(
        record, extension, np.asarray(samples, dtype=np.int64), symbol=list(labels), fs=fs, write_dir=str(folder)
    )
    return folder / f"{record}.{extension}"


def needs_model_rate(meta: ModelMeta, data: DataConfig) -> bool:
    """Whether wfdb-beats evaluation data must be resampled to the beat model's rate with `data.beat_fs`:
    the model has no resample step of its own and the data sets no beat_fs (records may be at any rate)."""
    resamples = any(step["name"] == "resample" for step in meta.transforms)
    return meta.beat is not None and data.dataset == "wfdb-beats" and data.beat_fs is None and not resamples


def with_model_side(windows: Windows, meta: ModelMeta) -> Windows:
    """`windows` with side features standardised by the model's training statistics (not the data's)."""
    if not meta.side_features or windows.features is None:
        return windows
    if meta.side_stats is None:
        raise SigattnError("the checkpoint has no side-feature statistics; retrain it with this sigattn")
    side = SideStats.from_dict(meta.side_stats).apply(rr_side_features(windows.features))
    return replace(windows, side=side)


def evaluation_split(prepared_splits: dict[str, Windows], split: str, meta: ModelMeta) -> Windows:
    """The windows of `split` (`all`: every non-empty split joined), fitted to the model (see with_model_side)."""
    parts = [w for w in prepared_splits.values() if len(w)] if split == "all" else None
    windows = concat(parts) if parts is not None else prepared_splits[split]
    if meta.beat is not None and windows.x.shape[1:] != (meta.in_channels, meta.window_length):
        raise SigattnError(f"the data's beats have shape {windows.x.shape[1:]}; the model expects "
                           f"({meta.in_channels}, {meta.window_length}): keep the model's beat options")  # fmt: skip
    return with_model_side(windows, meta)
