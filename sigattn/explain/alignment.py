"""Does temporal attention beat at the fault frequency? Alignment scores for bearings.

`fault_alignment` is the share of a map's spectral energy within ±`tolerance` of the fault
frequency and its harmonics, divided by the same share for time-shuffled copies of the map.
Shuffling keeps the values and destroys the rhythm, so 1 means "no more periodic at the fault rate
than chance" and >1 "periodic at the fault rate". Caveat: a smooth map (upsampled from a deep
stage) carries most of its energy at low frequencies and so scores above 1 at any low frequency;
the report's `control` (the same score on Normal windows) is the fair comparison. A stage whose
positions are `stride` input samples apart cannot show rhythms above fs / (2 stride): maps of deep
stages score near or below 1 there by construction.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import hilbert, periodogram

from sigattn.data.synthetic import RPM_RANGE, SKF6205, BearingGeometry, fault_rates
from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.explain.capture import StageAttention, temporal_stages

BEARING_DATASETS = frozenset({"synthetic", "cwru"})
SYNTHETIC_NOMINAL_RPM = sum(RPM_RANGE) / 2  # per-recording rpm is not kept in Windows


@dataclass(frozen=True)
class AlignmentScore:
    """`score` = mean `observed` band share / mean shuffled `baseline` share over `n` maps (nan if none)."""

    score: float
    observed: float
    baseline: float
    n: int


def fault_frequency_for(label: str, rpm: float, geometry: BearingGeometry = SKF6205) -> float | None:
    """Characteristic frequency (Hz) of a bearing class: IR*->BPFI, OR*->BPFO, B*->2 BSF, Normal->None.

    Ball faults use 2 BSF (the defect strikes both races once per spin; CWRU's 4.7135 fr).
    """
    match = re.fullmatch(r"(IR|OR|B)\d*", label)
    if label == "Normal":
        return None
    if match is None:
        raise SigattnError(f"no fault frequency for class {label!r}; expected Normal, IR*, OR* or B*")
    return fault_rates(rpm, geometry)[{"IR": "BPFI", "OR": "BPFO", "B": "2xBSF"}[match.group(1)]]


def _band_mask(n: int, length: int, fs: float, fault_hz: np.ndarray, tolerance: float, harmonics: int) -> np.ndarray:
    """(N, F) bins within ±tolerance (at least one bin) of k*f0, k = 1..harmonics, below Nyquist."""
    freqs = np.fft.rfftfreq(length, 1 / fs)
    f0 = np.broadcast_to(fault_hz, (n,))[:, None, None] * np.arange(1, harmonics + 1)[None, :, None]
    half = np.maximum(tolerance * f0, fs / length)
    return ((np.abs(freqs - f0) <= half) & (f0 < fs / 2)).any(axis=1)


def _share(maps: np.ndarray, fs: float, mask: np.ndarray) -> np.ndarray:
    """Per-map share of (non-DC) periodogram energy inside `mask`; nan for a constant map."""
    _, power = periodogram(maps - maps.mean(-1, keepdims=True), fs=fs, detrend=False, axis=-1)
    power[:, 0] = 0.0
    total = power.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (power * mask).sum(-1) / total, np.nan)


def fault_alignment(
    maps: np.ndarray,
    fs: float,
    fault_hz: float | np.ndarray,
    *,
    tolerance: float = 0.05,
    harmonics: int = 3,
    shuffles: int = 20,
    seed: int = 0,
) -> AlignmentScore:
    """Periodicity of temporal maps (N, L) on input time at `fault_hz` (scalar or one per map).

    Bands are k*f0 ± tolerance*k*f0 (never narrower than one frequency bin); the baseline is each
    map's share averaged over `shuffles` seeded permutations in time. Constant maps are skipped.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 2 or maps.shape[1] < 8:
        raise SigattnError(f"maps must be (N, L) with L >= 8; got shape {maps.shape}")
    hz = np.asarray(fault_hz, dtype=np.float64)
    if hz.ndim > 1 or (hz.ndim == 1 and len(hz) != len(maps)) or not np.all(np.isfinite(hz) & (hz > 0)):
        raise SigattnError(f"fault_hz must be positive, one value or one per map; got shape {hz.shape}")
    if not fs > 0 or np.any(hz >= fs / 2) or np.any(hz * maps.shape[1] / fs < 2):
        raise SigattnError(
            f"fault frequency must lie below Nyquist ({fs / 2} Hz) and a window of {maps.shape[1]} samples "
            f"at {fs} Hz must hold at least 2 fault periods; got {np.min(hz):.1f}-{np.max(hz):.1f} Hz"
        )
    if not 0 < tolerance < 0.5 or harmonics < 1 or shuffles < 1:
        raise SigattnError(
            f"need 0 < tolerance < 0.5, harmonics >= 1, shuffles >= 1; got {tolerance}, {harmonics}, {shuffles}"
        )
    mask = _band_mask(len(maps), maps.shape[1], fs, hz, tolerance, harmonics)
    observed = _share(maps, fs, mask)
    rng = np.random.default_rng(seed)
    baseline = np.mean([_share(rng.permuted(maps, axis=-1), fs, mask) for _ in range(shuffles)], axis=0)
    ok = np.isfinite(observed)
    if not ok.any():
        return AlignmentScore(math.nan, math.nan, math.nan, 0)
    obs, base = float(observed[ok].mean()), float(baseline[ok].mean())
    return AlignmentScore(obs / base if base > 0 else math.nan, obs, base, int(ok.sum()))


def envelope_alignment(x: np.ndarray, fs: float, fault_hz: float | np.ndarray, **kwargs) -> AlignmentScore:
    """`fault_alignment` of the inputs' Hilbert envelope ((N, L) or (N, C, L), averaged over channels)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[:, None] if x.ndim == 2 else x
    if x.ndim != 3:
        raise SigattnError(f"x must be (N, L) or (N, C, L); got shape {x.shape}")
    envelope = np.abs(hilbert(x - x.mean(-1, keepdims=True), axis=-1)).mean(axis=1)
    return fault_alignment(envelope, fs, fault_hz, **kwargs)


def _rpm_per_window(windows: Windows, rpm_by_source: dict[str, float] | float) -> np.ndarray:
    if not isinstance(rpm_by_source, dict):
        return np.full(len(windows), float(rpm_by_source))
    missing = sorted(set(windows.sources.tolist()) - set(rpm_by_source))
    if missing:
        raise SigattnError(f"rpm_by_source lacks {len(missing)} source(s), e.g. {missing[0]!r}")
    return np.array([rpm_by_source[s] for s in windows.sources], dtype=np.float64)


def _as_dict(s: AlignmentScore) -> dict[str, float]:
    return {"score": s.score, "observed": s.observed, "baseline": s.baseline, "n": s.n}


def bearing_alignment_report(
    attention: list[StageAttention],
    windows: Windows,
    rpm_by_source: dict[str, float] | float,
    *,
    geometry: BearingGeometry = SKF6205,
    **kwargs,
) -> dict:
    """{"input": {cls: envelope score}, "stage<k>": {cls: score + "control"}} per fault class present.

    Uses every window of the class, right or wrong (attention is about where the model looks, not
    whether it was right). `control` scores the Normal windows at the same class's fault frequency.
    """
    rpm = _rpm_per_window(windows, rpm_by_source)
    labels = np.asarray(windows.classes)[windows.y]
    faults = {c: np.array([fault_frequency_for(c, r, geometry) or 0.0 for r in rpm]) for c in windows.classes}
    faults = {c: hz for c, hz in faults.items() if hz.any()}
    normal = labels == "Normal"
    report: dict = {"input": {}}
    for c, hz in faults.items():
        sel = labels == c
        if sel.any():
            report["input"][c] = _as_dict(envelope_alignment(windows.x[sel], windows.fs, hz[sel], **kwargs))
    for sa in temporal_stages(attention):
        maps = sa.temporal_on_input(windows.x.shape[-1])
        stage = report.setdefault(f"stage{sa.stage}", {})
        for c, hz in faults.items():
            sel = labels == c
            if sel.any():
                stage[c] = _as_dict(fault_alignment(maps[sel], windows.fs, hz[sel], **kwargs))
                control = fault_alignment(maps[normal], windows.fs, hz[normal], **kwargs) if normal.any() else None
                stage[c]["control"] = control.score if control else math.nan
    return report


def nominal_rpm(windows: Windows, dataset: str) -> dict[str, float] | float:
    """Best rpm guess without recordings: CWRU file number -> nominal rpm of its load; synthetic -> mid range.

    Synthetic Windows don't keep each recording's rpm; its range (1720-1800) lies within ±2.3 % of
    the mid value, inside the default ±5 % band.
    """
    if dataset != "cwru":
        return SYNTHETIC_NOMINAL_RPM
    from sigattn.data.cwru import FILES, NOMINAL_RPM

    out = {}
    for source in set(windows.sources.tolist()):
        stem = Path(source).stem
        if not stem.isdigit() or int(stem) not in FILES:
            raise SigattnError(f"cannot tell the CWRU load of source {source!r}; pass rpm explicitly")
        out[source] = float(NOMINAL_RPM[FILES[int(stem)].load_hp])
    return out
