"""Does temporal attention look where the physics says it should? Scores for bearings, ECG and deletion.

- Bearings: `fault_alignment` is the share of a map's spectral energy within ±`tolerance` of the
  fault frequency and its harmonics, divided by the same share for time-shuffled copies of the
  map. Shuffling keeps the values and destroys the rhythm, so 1 means "no more periodic at the
  fault rate than chance" and >1 "periodic at the fault rate". Caveat: a smooth map (upsampled from
  a deep stage) carries most of its energy at low frequencies and so scores above 1 at any low
  frequency; the report's `control` (the same score on Normal windows) is the fair comparison.
  A stage whose positions are `stride` input samples apart cannot show rhythms above
  fs / (2 stride): maps of deep stages score near or below 1 there by construction.
- ECG: `ecg_attention_mass` is the share of attention mass in the QRS (R ± 50 ms) and P-wave
  (R-250 .. R-120 ms) windows, against the chance share (window width / length).
- Deletion: `deletion_test` masks the top `fraction` of samples by attention, by Integrated
  Gradients (captum) and at random, and reports the accuracy drops.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from scipy.signal import hilbert, periodogram
from torch import nn

from sigattn.data.synthetic import RPM_RANGE, SKF6205, BearingGeometry, fault_frequencies
from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.training import predict_proba

if TYPE_CHECKING:
    from sigattn.attention import StageAttention

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
    f = fault_frequencies(rpm, geometry)
    return {"IR": f["BPFI"], "OR": f["BPFO"], "B": 2 * f["BSF"]}[match.group(1)]


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


def _temporal(attention: list[StageAttention]) -> list[StageAttention]:
    return [sa for sa in attention if sa.temporal is not None]


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
    for sa in _temporal(attention):
        maps = sa.temporal_on_input(windows.x.shape[-1])
        stage = report.setdefault(f"stage{sa.stage}", {})
        for c, hz in faults.items():
            sel = labels == c
            if sel.any():
                stage[c] = _as_dict(fault_alignment(maps[sel], windows.fs, hz[sel], **kwargs))
                control = fault_alignment(maps[normal], windows.fs, hz[normal], **kwargs) if normal.any() else None
                stage[c]["control"] = control.score if control else math.nan
    return report


def ecg_attention_mass(
    maps: np.ndarray, fs: float, r_index: int, *, qrs_ms: float = 50.0, p_window_ms: tuple[float, float] = (-250, -120)
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
    for sa in _temporal(attention):
        maps = sa.temporal_on_input(windows.x.shape[-1])
        stage = report[f"stage{sa.stage}"] = {"all": ecg_attention_mass(maps, windows.fs, before, **kwargs)}
        for c in windows.classes:
            if (labels == c).any():
                stage[c] = ecg_attention_mass(maps[labels == c], windows.fs, before, **kwargs)
    return report


def _top_k_mask(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(N, L) bool: the k highest scores per row, ties broken at random."""
    order = np.lexsort((rng.random(scores.shape), -scores), axis=-1)[:, :k]
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return mask


def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    return float((predict_proba(model, x, batch_size).argmax(-1) == y).mean())


def integrated_gradients(
    model: nn.Module, x: np.ndarray, y: np.ndarray, *, steps: int = 32, batch_size: int = 128
) -> np.ndarray:
    """(N, L) |Integrated Gradients| of the true class summed over channels (captum, zero baseline)."""
    from captum.attr import IntegratedGradients

    model.eval()
    device = next(model.parameters()).device
    ig, parts = IntegratedGradients(model), []
    with torch.enable_grad():
        for s in range(0, len(x), batch_size):
            xb = torch.as_tensor(np.ascontiguousarray(x[s : s + batch_size], dtype=np.float32), device=device)
            target = torch.as_tensor(y[s : s + batch_size], dtype=torch.long, device=device)
            attr = ig.attribute(
                xb, baselines=torch.zeros_like(xb), target=target, n_steps=steps, internal_batch_size=batch_size
            )
            signal = attr[:, :-1] if getattr(model, "side_features", 0) else attr  # not the packed side channel
            parts.append(signal.detach().abs().sum(1).float().cpu().numpy())
    return np.concatenate(parts)


def deletion_test(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    attention_on_input: np.ndarray | None,
    *,
    fraction: float = 0.1,
    baseline: Literal["zero", "mean"] = "zero",
    seed: int = 0,
    ig_steps: int = 32,
    batch_size: int = 128,
    max_windows: int = 256,
) -> dict[str, float]:
    """Accuracy before and after masking the top `fraction` of samples by attention, IG and at random.

    Masked samples are set to 0 or to the window's per-channel mean; a packed side-feature channel
    (sigattn.data.side) is never masked. At most `max_windows` windows are used (a seeded subset).
    With `attention_on_input` None the attention entries are left out. Puts `model` in eval mode.
    """
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    if x.ndim != 3 or y.shape != (len(x),) or len(x) == 0:
        raise SigattnError(f"need x (N, C, L) and y (N,) with N >= 1; got {x.shape} and {y.shape}")
    if attention_on_input is not None and np.shape(attention_on_input) != (len(x), x.shape[-1]):
        raise SigattnError(
            f"attention_on_input must be (N, L) = {(len(x), x.shape[-1])}; got {np.shape(attention_on_input)}"
        )
    if not 0 < fraction < 1 or baseline not in ("zero", "mean") or max_windows < 1:
        raise SigattnError(
            f"need 0 < fraction < 1, baseline 'zero' or 'mean' and max_windows >= 1; "
            f"got {fraction}, {baseline!r}, {max_windows}"
        )
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(x), max_windows, replace=False)) if len(x) > max_windows else np.arange(len(x))
    x, y = x[keep], y[keep]
    k = max(1, round(fraction * x.shape[-1]))
    fill = x.mean(-1, keepdims=True) if baseline == "mean" else np.zeros_like(x[..., :1])
    if getattr(model, "side_features", 0):
        fill = np.concatenate([fill[:, :-1] * np.ones_like(x[:, :-1]), x[:, -1:]], axis=1)
    scores = {"ig": integrated_gradients(model, x, y, steps=ig_steps, batch_size=batch_size)}
    scores["random"] = rng.random((len(x), x.shape[-1]))
    if attention_on_input is not None:
        scores["attention"] = np.asarray(attention_on_input, dtype=np.float64)[keep]
    a0 = _accuracy(model, x, y, batch_size)
    out = {"accuracy": a0, "fraction": float(fraction), "n": len(x)}
    for name, score in scores.items():
        masked = np.where(_top_k_mask(score, k, rng)[:, None, :], fill, x)
        out[f"accuracy_{name}"] = _accuracy(model, masked, y, batch_size)
        out[f"drop_{name}"] = a0 - out[f"accuracy_{name}"]
    return out


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


def _per_class_subset(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = [np.flatnonzero(y == c) for c in np.unique(y)]
    return np.sort(
        np.concatenate([p if len(p) <= per_class else rng.choice(p, per_class, replace=False) for p in parts])
    )


def _subset(windows: Windows, attention: list[StageAttention], index: np.ndarray):
    w = dataclasses.replace(
        windows,
        x=windows.x[index],
        y=windows.y[index],
        groups=windows.groups[index],
        sources=windows.sources[index],
        starts=windows.starts[index],
        features=None if windows.features is None else windows.features[index],
    )
    sub = [
        dataclasses.replace(
            sa,
            channel=None if sa.channel is None else sa.channel[index],
            temporal=None if sa.temporal is None else sa.temporal[index],
        )
        for sa in attention
    ]
    return w, sub


def interpretability_scores(
    model: nn.Module,
    windows: Windows,
    attention: list[StageAttention],
    *,
    dataset: str,
    rpm: dict[str, float] | float | None = None,
    before: int | None = None,
    stage: int | None = None,
    fraction: float = 0.1,
    per_class: int = 256,
    ig_steps: int = 32,
    seed: int = 0,
    geometry: BearingGeometry = SKF6205,
) -> dict[str, float]:
    """Flat metrics for MLflow on up to `per_class` windows of each class (seeded subset).

    synthetic/cwru: `attn_align_stage<k>_<cls>`, `attn_align_ctrl_stage<k>_<cls>` (Normal windows)
    and `input_align_<cls>`; `rpm` defaults to `nominal_rpm`. mitdb (needs `before`, the R index):
    `attn_qrs_mass_stage<k>_<cls>`, `attn_p_mass_stage<k>_<cls>`, `attn_qrs_chance`, `attn_p_chance`.
    Always `deletion_*` from `deletion_test`, masking by the temporal map of `stage` (default: the
    last stage with one; `deletion_stage` says which). Non-finite values are left out.
    """
    if any(len(sa.temporal if sa.temporal is not None else sa.channel) != len(windows) for sa in attention):
        raise SigattnError(f"attention was collected on a different number of windows than the {len(windows)} given")
    temporal = {sa.stage: sa for sa in _temporal(attention)}
    if stage is not None and stage not in temporal:
        raise SigattnError(f"stage {stage} has no temporal attention; stages with one: {sorted(temporal)}")
    if dataset == "mitdb" and before is None:
        raise SigattnError("mitdb scores need `before`, the R-peak index within each beat window")
    windows, attention = _subset(windows, attention, _per_class_subset(windows.y, per_class, seed))
    out: dict[str, float] = {}
    if dataset in BEARING_DATASETS:
        rpm = nominal_rpm(windows, dataset) if rpm is None else rpm
        report = bearing_alignment_report(attention, windows, rpm, geometry=geometry, seed=seed)
        for c, s in report.pop("input").items():
            out[f"input_align_{c}"] = s["score"]
        for name, classes in report.items():
            for c, s in classes.items():
                out[f"attn_align_{name}_{c}"], out[f"attn_align_ctrl_{name}_{c}"] = s["score"], s["control"]
    elif dataset == "mitdb":
        for name, classes in ecg_attention_report(attention, windows, before).items():
            for c, s in classes.items():
                out[f"attn_qrs_mass_{name}_{c}"], out[f"attn_p_mass_{name}_{c}"] = s["qrs"], s["p"]
                out["attn_qrs_chance"], out["attn_p_chance"] = s["qrs_chance"], s["p_chance"]
    chosen = None
    if temporal:
        chosen = temporal[list(temporal)[-1] if stage is None else stage]
        out["deletion_stage"] = float(chosen.stage)
    maps = None if chosen is None else chosen.temporal_on_input(windows.x.shape[-1])
    result = deletion_test(
        model, windows.x, windows.y, maps, fraction=fraction, seed=seed, ig_steps=ig_steps, max_windows=256
    )
    out.update({f"deletion_{k}": float(v) for k, v in result.items() if k != "n"})
    return {k: float(v) for k, v in out.items() if math.isfinite(v)}


def score_windows(
    model: nn.Module, windows: Windows, *, dataset: str, before: int | None = None, per_class: int = 256, seed: int = 0
) -> dict[str, float]:
    """`interpretability_scores` on a seeded subset of up to `per_class` windows per class,
    collecting the attention maps of that subset only."""
    from sigattn.attention import collect_attention
    from sigattn.data.windows import take

    subset = take(windows, _per_class_subset(windows.y, per_class, seed))
    attention = collect_attention(model, subset.x)
    return interpretability_scores(
        model, subset, attention, dataset=dataset, before=before, per_class=per_class, seed=seed
    )
