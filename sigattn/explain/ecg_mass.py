"""Does ECG attention sit on the QRS complex and the P wave? Attention mass near the R peak.

`ecg_attention_mass` is the share of attention mass in the QRS (R ± 50 ms) and P-wave
(R-250 .. R-120 ms) windows, against the chance share (window width / length).
"""

from __future__ import annotations

import math

import numpy as np

from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.explain.capture import StageAttention, temporal_stages

QRS_MS = 50.0  # QRS window: R +- 50 ms
P_WINDOW_MS = (-250.0, -120.0)  # P-wave window relative to R, in ms


def ecg_attention_mass(
    maps: np.ndarray,
    fs: float,
    r_index: int,
    *,
    qrs_ms: float = QRS_MS,
    p_window_ms: tuple[float, float] = P_WINDOW_MS,
) -> dict[str, float]:
    """Mean share of attention mass near the R peak at `r_index` (maps normalised to sum 1 each).

    QRS: R ± `qrs_ms`. P wave: R-250 .. R-120 ms by default: a PR interval of 120-200 ms plus
    half a QRS puts P between ~R-250 and ~R-110 ms, and the window stops short of the QRS one.
    Chance shares are the window widths over L (what a flat map scores). All-zero maps are skipped.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 2 or not 0 <= r_index < maps.shape[1] or not fs > 0:
        raise SigattnError(f"need maps (N, L), 0 <= r_index < L and fs > 0; got {maps.shape}, {r_index}, {fs}")
    if (maps < 0).any():
        raise SigattnError("attention maps must be non-negative to be read as mass")
    lo_ms, hi_ms = p_window_ms
    if not lo_ms < hi_ms or qrs_ms <= 0:
        raise SigattnError(f"need qrs_ms > 0 and p_window_ms (lo, hi) with lo < hi; got {qrs_ms}, {p_window_ms}")
    length = maps.shape[1]

    def span(a_ms: float, b_ms: float) -> slice:
        a, b = r_index + round(a_ms * fs / 1000), r_index + round(b_ms * fs / 1000) + 1
        return slice(min(max(a, 0), length), min(max(b, 0), length))

    total = maps.sum(-1)
    keep = total > 0
    mass = maps[keep] / total[keep, None]
    out: dict[str, float] = {"n": int(keep.sum())}
    for name, s in (("qrs", span(-qrs_ms, qrs_ms)), ("p", span(lo_ms, hi_ms))):
        out[name] = float(mass[:, s].sum(-1).mean()) if keep.any() else math.nan
        out[f"{name}_chance"] = (s.stop - s.start) / length
    return out


def ecg_attention_report(attention: list[StageAttention], windows: Windows, before: int, **kwargs) -> dict:
    """{"stage<k>": {AAMI class or "all": ecg_attention_mass}} for every stage with a temporal map."""
    labels = np.asarray(windows.classes)[windows.y]
    report = {}
    for sa in temporal_stages(attention):
        maps = sa.temporal_on_input(windows.x.shape[-1])
        stage = report[f"stage{sa.stage}"] = {"all": ecg_attention_mass(maps, windows.fs, before, **kwargs)}
        for c in windows.classes:
            if (labels == c).any():
                stage[c] = ecg_attention_mass(maps[labels == c], windows.fs, before, **kwargs)
    return report
