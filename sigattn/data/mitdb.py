"""MIT-BIH Arrhythmia Database: one lead per record, beats cut around annotated R peaks.

Leads are chosen by name (record 114 has MLII on channel 1; 102 and 104 have none).
Beat symbols map to the AAMI classes N, S, V, F, Q; every other annotation is not a beat.
Windows run from `before` samples ahead of the R peak to `after` samples past it. Beats too
close to a record edge are kept: the record is edge-padded (`np.pad(mode="edge")`) by
`before`/`after` samples, so every annotated beat gets a window and the AAMI counts equal
the annotation counts (de Chazal DS1/DS2). Their `starts` may then be negative.

RR features (seconds, from the AAMI beats only, at the record's own rate):
previous RR, next RR, local RR (mean of the previous RR of this beat and up to 9 before it,
i.e. at most 10 intervals) and the record's average RR. The first beat takes its next RR as
its previous RR; the last beat takes its previous RR as its next RR.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import wfdb

from sigattn.data.beats import neighbour_context, record_amplitude
from sigattn.data.types import Windows
from sigattn.errors import SigattnError

AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
AAMI_MAP: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
_UNITS_TO_MV: dict[str, float] = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}
LOCAL_RR_BEATS = 10
MITDB_FS = 360.0  # every record's rate


class RecordPipeline(Protocol):
    """Whole-record preprocessing applied before beats are cut (e.g. filter, resample)."""

    def apply_record(self, signal: np.ndarray, fs: float) -> tuple[np.ndarray, float]: ...


def aami_class(symbol: str) -> str | None:
    """The AAMI class of a beat annotation symbol, or None if the symbol is not a beat."""
    return AAMI_MAP.get(symbol)


def _record_base(path_or_dir: str | Path, record: str) -> Path:
    base = Path(path_or_dir)
    if base.is_file():  # e.g. .../100.hea: use its folder
        base = base.parent
    if (base / "mitdb").is_dir() and not (base / f"{record}.hea").is_file():
        base = base / "mitdb"
    return base / record


def load_record(
    path_or_dir: str | Path, record: str, *, lead: str = "MLII"
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """One lead of `record` in mV (1D float32), its fs, and all annotation samples and symbols."""
    base = _record_base(path_or_dir, record)
    hea = base.with_name(f"{record}.hea")
    if not hea.is_file():
        raise SigattnError(f"record {record}: header {hea} not found")
    try:
        header = wfdb.rdheader(str(base))
    except PermissionError as e:
        raise SigattnError(f"{hea}: cannot read ({e.strerror}); expected a readable file") from None
    except Exception as e:
        raise SigattnError(f"{hea}: corrupt header ({type(e).__name__}: {e})") from None
    names = list(header.sig_name or [])
    if lead not in names:
        raise SigattnError(f"{hea}: record {record} has no lead {lead!r}; it has: {', '.join(names) or 'none'}")
    channel = names.index(lead)
    dat = base.with_name(header.file_name[channel])
    try:
        rec = wfdb.rdrecord(str(base), channels=[channel], physical=True)
        x = np.asarray(rec.p_signal, dtype=np.float64)[:, 0]
    except Exception as e:
        raise SigattnError(f"{dat}: could not read lead {lead} (truncated or corrupt?): {e}") from None
    if x.size == 0 or x.size != header.sig_len:
        raise SigattnError(f"{dat}: {x.size} samples of lead {lead}, header says {header.sig_len}")
    if not np.isfinite(x).all():
        raise SigattnError(f"{dat}: lead {lead} has {int((~np.isfinite(x)).sum())} invalid (NaN) samples")
    unit = ((rec.units or ["mV"])[0] or "mV").strip().lower()
    if unit not in _UNITS_TO_MV:
        raise SigattnError(f"{hea}: lead {lead} is in {rec.units[0]!r}; expected mV, uV or V")
    atr = base.with_name(f"{record}.atr")
    if not atr.is_file():
        raise SigattnError(f"record {record}: annotation file {atr} not found")
    try:
        ann = wfdb.rdann(str(base), "atr")
    except Exception as e:
        raise SigattnError(f"{atr}: corrupt annotations ({type(e).__name__}: {e})") from None
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = np.asarray(ann.symbol, dtype=str)
    if samples.size and (samples.min() < 0 or samples.max() >= x.size):
        raise SigattnError(f"{atr}: annotation sample outside the record (0..{x.size - 1})")
    return (x * _UNITS_TO_MV[unit]).astype(np.float32), float(header.fs), samples, symbols


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


def _record_beats(
    data_dir: Path,
    record: str,
    lead: str,
    before: int,
    after: int,
    pipeline: RecordPipeline | None,
    amplitude: str,
    context: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    x, fs, samples, symbols = load_record(data_dir, record, lead=lead)
    labels = np.array([AAMI_MAP.get(s, "") for s in symbols], dtype=str)
    keep = labels != ""
    samples, labels = samples[keep], labels[keep]
    if samples.size < 2:
        raise SigattnError(f"record {record}: {samples.size} AAMI beats; RR features need at least 2")
    features = rr_features(samples, fs)
    signal, out_fs = x[None, :], fs
    if pipeline is not None:
        signal, out_fs = pipeline.apply_record(signal, fs)
        signal = np.asarray(signal, dtype=np.float32)
        if signal.ndim != 2 or signal.shape[1] == 0 or not np.isfinite(signal).all():
            raise SigattnError(f"record {record}: pipeline returned {signal.shape}; expected finite (C, T)")
        if out_fs != fs:
            samples = np.round(samples * (out_fs / fs)).astype(np.int64)
            samples = np.clip(samples, 0, signal.shape[1] - 1)
    padded = np.pad(signal, ((0, 0), (before, after)), mode="edge")
    views = np.lib.stride_tricks.sliding_window_view(padded, before + after, axis=1)
    beats = views[:, samples].transpose(1, 0, 2)  # (N, C, L); window i starts at samples[i] - before
    beats = neighbour_context(record_amplitude(beats, before, amplitude), context)
    y = np.array([AAMI_CLASSES.index(c) for c in labels], dtype=np.int64)
    return np.ascontiguousarray(beats), y, samples - before, features, float(out_fs)


def load_beats(
    data_dir: Path,
    records: Sequence[str],
    *,
    lead: str = "MLII",
    before: int = 90,
    after: int = 170,
    pipeline: RecordPipeline | None = None,
    amplitude: str = "window",
    context: str = "none",
) -> Windows:
    """Beat windows (N, C, before+after) of `records`, AAMI labels, and RR features.

    `pipeline.apply_record(signal (C, T), fs) -> (signal, fs)` runs on each whole record
    first; `before`/`after` count samples at the rate it returns, and R-peak indices are
    rescaled to that rate. Every record must come out at the same rate. `amplitude` and
    `context` are per-record options of sigattn.data.beats (`neighbours` makes C three times
    as many channels: previous, current and next beat).
    """
    if before < 0 or after < 1:
        raise SigattnError(f"beat window needs before >= 0 and after >= 1 samples; got {before}/{after}")
    if not records:
        raise SigattnError("load_beats needs at least one MIT-BIH record name")
    parts = [_record_beats(Path(data_dir), str(r), lead, before, after, pipeline, amplitude, context) for r in records]
    rates = {p[4] for p in parts}
    if len(rates) > 1:
        raise SigattnError(f"MIT-BIH records came out at different rates {sorted(rates)} Hz; resample them alike")
    names = np.concatenate([np.full(len(p[1]), str(r)) for r, p in zip(records, parts, strict=True)])
    return Windows(
        x=np.concatenate([p[0] for p in parts]),
        y=np.concatenate([p[1] for p in parts]),
        classes=AAMI_CLASSES,
        groups=names,
        sources=names.copy(),
        starts=np.concatenate([p[2] for p in parts]).astype(np.int64),
        fs=rates.pop(),
        features=np.concatenate([p[3] for p in parts]),
    )
