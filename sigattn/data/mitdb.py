"""Beats of annotated WFDB records (MIT-BIH and any database like it), labelled with AAMI classes.

Leads are chosen by name (record 114 has MLII on channel 1; 102 and 104 have none), or by a
list of names tried in order. Beat symbols map to the AAMI classes N, S, V, F, Q; every other
annotation is not a beat. Windows run from `before` samples ahead of the R peak to `after`
samples past it. Beats too close to a record edge are kept: the record is edge-padded
(`np.pad(mode="edge")`) by `before`/`after` samples, so every annotated beat gets a window and
the AAMI counts equal the annotation counts (de Chazal DS1/DS2). Their `starts` may then be
negative. RR features: see sigattn.data.beats.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sigattn.data.beats import LOCAL_RR_BEATS, RecordPipeline, cut_beats, rr_features
from sigattn.data.types import Windows
from sigattn.data.wfdb_records import DataWarning, MissingLead, read_annotations, read_lead
from sigattn.errors import SigattnError

__all__ = ["AAMI_CLASSES", "AAMI_MAP", "LOCAL_RR_BEATS", "MITDB_FS", "aami_class", "load_beats", "load_record"]
__all__ += ["record_beats", "rr_features", "RecordPipeline"]

AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
AAMI_MAP: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
MITDB_FS = 360.0  # every record's rate


class TooFewBeats(SigattnError):
    """A record with under 2 AAMI beats (RR features need two)."""


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


def _leads(lead: str | Sequence[str]) -> tuple[str, ...]:
    return (lead,) if isinstance(lead, str) else tuple(lead)


def load_record(
    path_or_dir: str | Path, record: str, *, lead: str | Sequence[str] = "MLII", annotation: str = "atr"
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """One lead of `record` in mV (1D float32), its fs, and its annotation samples and symbols
    (those outside the signal dropped with a warning; see sigattn.data.wfdb_records)."""
    base = _record_base(path_or_dir, record)
    x, fs, _ = read_lead(base, _leads(lead))
    samples, symbols = read_annotations(base, annotation, x.size)
    return x, fs, samples, symbols


def aami_beats(samples: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The beat annotations among `samples`/`symbols`, sorted, and their AAMI class indices."""
    labels = np.array([AAMI_MAP.get(s, "") for s in symbols], dtype=str)
    keep = labels != ""
    order = np.argsort(samples[keep], kind="stable")
    y = np.array([AAMI_CLASSES.index(c) for c in labels[keep][order]], dtype=np.int64)
    return samples[keep][order], y


def record_beats(
    data_dir: Path, record: str, lead: Sequence[str], before: int, after: int, annotation: str = "atr", **kw
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Beat windows, AAMI labels, window starts, RR features and rate of one record (see load_beats)."""
    x, fs, samples, symbols = load_record(data_dir, record, lead=lead, annotation=annotation)
    peaks, y = aami_beats(samples, symbols)
    if peaks.size < 2:
        raise TooFewBeats(f"record {record}: {peaks.size} AAMI beats; RR features need at least 2")
    beats = cut_beats(x[None, :], fs, peaks, before=before, after=after, source=f"record {record}", **kw)
    return beats.x, y, beats.peaks - before, beats.features, beats.fs


def load_beats(
    data_dir: Path,
    records: Sequence[str],
    *,
    lead: str | Sequence[str] = "MLII",
    before: int = 90,
    after: int = 170,
    pipeline: RecordPipeline | None = None,
    amplitude: str = "window",
    context: str = "none",
    annotation: str = "atr",
    skip_unusable: bool = False,
) -> Windows:
    """Beat windows (N, C, before+after) of `records`, AAMI labels, and RR features.

    `pipeline.apply_record(signal (C, T), fs) -> (signal, fs)` runs on each whole record
    first; `before`/`after` count samples at the rate it returns, and R-peak indices are
    rescaled to that rate. Every record must come out at the same rate. `amplitude` and
    `context` are per-record options of sigattn.data.beats (`neighbours` makes C three times
    as many channels: previous, current and next beat). With `skip_unusable`, a record with none
    of the leads or under 2 beats is skipped with a one-line DataWarning; only no beats at all is an error.
    """
    if before < 0 or after < 1:
        raise SigattnError(f"beat window needs before >= 0 and after >= 1 samples; got {before}/{after}")
    if not records:
        raise SigattnError("load_beats needs at least one record name")
    kw = {"pipeline": pipeline, "amplitude": amplitude, "context": context}
    parts, kept = [], []
    for r in map(str, records):
        try:
            parts.append(record_beats(Path(data_dir), r, _leads(lead), before, after, annotation, **kw))
            kept.append(r)
        except (MissingLead, TooFewBeats) as e:
            if not skip_unusable:
                raise
            warnings.warn(f"{e}; record skipped", DataWarning, stacklevel=2)
    if not parts:
        raise SigattnError(f"{data_dir}: no beats in records {', '.join(map(str, records[:5]))}; none usable")
    rates = {p[4] for p in parts}
    if len(rates) > 1:
        raise SigattnError(f"records came out at different rates {sorted(rates)} Hz; set data.beat_fs to resample them")
    names = np.concatenate([np.full(len(p[1]), r) for r, p in zip(kept, parts, strict=True)])
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
