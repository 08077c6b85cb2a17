"""Interpretability scores of a model on labelled windows, as flat metrics for the tracker.

Bearings: fault-frequency alignment (`sigattn.explain.alignment`); ECG: attention mass on QRS and
P wave (`sigattn.explain.ecg_mass`); every dataset: the deletion test (`sigattn.explain.deletion`).
The first two read the input as time, so a spectrum input (`sigattn.explain.axis`) skips them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from torch import nn

from sigattn.config.data import ECG_DATASETS
from sigattn.data.synthetic import SKF6205, BearingGeometry
from sigattn.data.types import Windows
from sigattn.data.windows import take
from sigattn.errors import SigattnError
from sigattn.explain.alignment import BEARING_DATASETS, bearing_alignment_report, nominal_rpm
from sigattn.explain.axis import InputAxis
from sigattn.explain.capture import StageAttention, collect_attention, temporal_stages
from sigattn.explain.deletion import deletion_test
from sigattn.explain.ecg_mass import ecg_attention_report
from sigattn.explain.views import attention_views

TIME_SCORES = {**dict.fromkeys(BEARING_DATASETS, "fault-frequency alignment"),
               **dict.fromkeys(ECG_DATASETS, "QRS and P-wave attention mass")}  # fmt: skip


def skipped_scores(dataset: str, axis: InputAxis | None) -> str | None:
    """One line saying why `dataset`'s time-only scores are left out for a spectrum input; None if kept."""
    if axis is None or axis.is_time or dataset not in TIME_SCORES:
        return None
    return f"{TIME_SCORES[dataset]} scores skipped: the model reads a spectrum, not a time signal"


def _per_class_subset(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = [np.flatnonzero(y == c) for c in np.unique(y)]
    return np.sort(
        np.concatenate([p if len(p) <= per_class else rng.choice(p, per_class, replace=False) for p in parts])
    )


def _subset(windows: Windows, attention: list[StageAttention], index: np.ndarray):
    w = take(windows, index)
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
    axis: InputAxis | None = None,
) -> dict[str, float]:
    """Flat metrics for MLflow on up to `per_class` windows of each class (seeded subset).

    synthetic/cwru: `attn_align_stage<k>_<cls>`, `attn_align_ctrl_stage<k>_<cls>` (Normal windows)
    and `input_align_<cls>`; `rpm` defaults to `nominal_rpm`. mitdb (needs `before`, the R index):
    `attn_qrs_mass_stage<k>_<cls>`, `attn_p_mass_stage<k>_<cls>`, `attn_qrs_chance`, `attn_p_chance`.
    Always `deletion_*` from `deletion_test`, masking by the temporal map of `stage` (default: the
    last stage with one; `deletion_stage` says which), and `deletion_drop_attention_stage<k>` for
    every stage with a temporal map and `deletion_drop_attention_product` for their product
    (`sigattn.explain.views`). Non-finite values are left out. With a spectrum `axis` (default:
    time) the dataset's time-only scores are skipped (`skipped_scores`).
    """
    if any(len(sa.temporal if sa.temporal is not None else sa.channel) != len(windows) for sa in attention):
        raise SigattnError(f"attention was collected on a different number of windows than the {len(windows)} given")
    temporal = {sa.stage: sa for sa in temporal_stages(attention)}
    if stage is not None and stage not in temporal:
        raise SigattnError(f"stage {stage} has no temporal attention; stages with one: {sorted(temporal)}")
    if dataset in ECG_DATASETS and before is None:
        raise SigattnError("mitdb scores need `before`, the R-peak index within each beat window")
    windows, attention = _subset(windows, attention, _per_class_subset(windows.y, per_class, seed))
    out: dict[str, float] = {}
    timed = skipped_scores(dataset, axis) is None  # the time-only scores apply
    if dataset in BEARING_DATASETS and timed:
        rpm = nominal_rpm(windows, dataset) if rpm is None else rpm
        report = bearing_alignment_report(attention, windows, rpm, geometry=geometry, seed=seed)
        for c, s in report.pop("input").items():
            out[f"input_align_{c}"] = s["score"]
        for name, classes in report.items():
            for c, s in classes.items():
                out[f"attn_align_{name}_{c}"], out[f"attn_align_ctrl_{name}_{c}"] = s["score"], s["control"]
    elif dataset in ECG_DATASETS and timed:
        for name, classes in ecg_attention_report(attention, windows, before).items():
            for c, s in classes.items():
                out[f"attn_qrs_mass_{name}_{c}"], out[f"attn_p_mass_{name}_{c}"] = s["qrs"], s["p"]
                out["attn_qrs_chance"], out["attn_p_chance"] = s["qrs_chance"], s["p_chance"]
    chosen = None
    if temporal:
        chosen = temporal[list(temporal)[-1] if stage is None else stage]
        out["deletion_stage"] = float(chosen.stage)
    maps = None if chosen is None else chosen.temporal_on_input(windows.x.shape[-1])
    views = attention_views(attention, windows.x.shape[-1])
    result = deletion_test(
        model,
        windows.x,
        windows.y,
        maps,
        views=views,
        side=windows.side,
        fraction=fraction,
        seed=seed,
        ig_steps=ig_steps,
    )
    out.update({f"deletion_{k}": float(v) for k, v in result.items() if k != "n"})
    return {k: float(v) for k, v in out.items() if math.isfinite(v)}


def score_windows(
    model: nn.Module,
    windows: Windows,
    *,
    dataset: str,
    before: int | None = None,
    per_class: int = 256,
    seed: int = 0,
    axis: InputAxis | None = None,
) -> dict[str, float]:
    """`interpretability_scores` on a seeded subset of up to `per_class` windows per class,
    collecting the attention maps of that subset only."""

    subset = take(windows, _per_class_subset(windows.y, per_class, seed))
    attention = collect_attention(model, subset.x, side=subset.side)
    return interpretability_scores(
        model, subset, attention, dataset=dataset, before=before, per_class=per_class, seed=seed, axis=axis
    )
