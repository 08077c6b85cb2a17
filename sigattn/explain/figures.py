"""Attention maps as figures: arrays in, `matplotlib.figure.Figure` out (no pyplot, nothing saved).

`attention_report` turns a model and a split into the figures and the JSON summary that
`fit` logs under `attention/`. Softmax (GC) temporal maps are divided by their per-window
maximum, so every map shown lies in 0-1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import nn

from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.explain.alignment import BEARING_DATASETS, nominal_rpm
from sigattn.explain.axis import InputAxis
from sigattn.explain.capture import StageAttention, collect_attention
from sigattn.explain.class_maps import class_distance
from sigattn.explain.overlay import DPI, PANEL, _label, finish_class_axes, overlay_figure
from sigattn.explain.run_figures import _balanced_choice, faithfulness_figures

__all__ = ["_balanced_choice", "attention_report", "channel_heatmap_figure", "class_average_figure", "overlay_figure"]


def channel_heatmap_figure(class_means: np.ndarray, classes: Sequence[str], stage_name: str, title: str) -> Figure:
    """Mean channel gate per class (rows) and channel (columns), 0-1; classes without windows blank."""
    means = np.asarray(class_means, dtype=np.float64)
    if means.ndim != 2 or means.shape[0] != len(classes):
        raise SigattnError(f"class_means must be (K, C) with K={len(classes)} classes; got shape {means.shape}")
    fig = Figure(figsize=(PANEL[0], 1.4 + 0.3 * len(classes)), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
    image = ax.imshow(
        np.ma.masked_invalid(means), aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    fig.colorbar(image, ax=ax, label="mean channel gate (0-1)", fraction=0.03, pad=0.01)
    ax.set_yticks(range(len(classes)), labels=list(classes))
    ax.set_xlabel("channel")
    ax.set_ylabel("true class")
    ax.set_title(f"{title}: {stage_name}, mean channel gate per class", fontsize=10)
    return fig


def class_average_figure(
    times: np.ndarray,
    mean: np.ndarray,
    spread: np.ndarray,
    classes: Sequence[str],
    stage_name: str,
    title: str,
    axis: InputAxis,
    *,
    kind: str | None = "sigmoid",
) -> Figure:
    """Mean temporal map per class with a +-`spread` band; `times` are input positions (sample or
    bin indices), shown in the unit of `axis`."""
    mean, spread = np.asarray(mean, dtype=np.float64), np.asarray(spread, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if mean.shape != spread.shape or mean.shape != (len(classes), len(times)):
        raise SigattnError(
            f"mean and spread must be (K, L) = ({len(classes)}, {len(times)}); got {mean.shape} and {spread.shape}"
        )
    t = axis.at(times)
    fig = Figure(figsize=(PANEL[0], 3.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for k, name in enumerate(classes):
        if np.isnan(mean[k]).all():
            continue
        (line,) = ax.plot(t, mean[k], linewidth=1.2, label=name)
        ax.fill_between(t, mean[k] - spread[k], mean[k] + spread[k], color=line.get_color(), alpha=0.15, linewidth=0)
    heading = f"{title}: {stage_name}, mean temporal attention per class"
    finish_class_axes(ax, t, axis.label, f"mean {_label(kind)}", len(classes), heading)
    return fig


def _shown(sa: StageAttention) -> StageAttention:
    """The stage with its temporal map in 0-1 (softmax maps divided by each window's maximum)."""
    if sa.temporal is None or sa.temporal_kind != "softmax":
        return sa
    return replace(sa, temporal=sa.temporal / np.maximum(sa.temporal.max(axis=1, keepdims=True), 1e-12))


def _rounded(a: np.ndarray) -> list:
    return [None if not np.isfinite(v) else round(float(v), 5) for v in np.ravel(a)]


def _class_stats(values: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.full((k, values.shape[1]), np.nan)
    std = np.full((k, values.shape[1]), np.nan)
    for c in range(k):
        if (y == c).any():
            mean[c], std[c] = values[y == c].mean(axis=0), values[y == c].std(axis=0)
    return mean, std


def _rpm(windows: Windows, dataset: str | None) -> float | None:
    """One shaft speed for the fault-frequency lines of a bearing dataset (median nominal rpm), else None."""
    if dataset not in BEARING_DATASETS:
        return None
    rpm = nominal_rpm(windows, dataset)
    return float(np.median(list(rpm.values()))) if isinstance(rpm, dict) else float(rpm)


def attention_report(
    model: nn.Module,
    windows: Windows,
    probs: np.ndarray,
    *,
    run_name: str,
    block: str,
    per_class: int = 2,
    max_windows: int = 512,
    scores: Mapping[str, float] | None = None,
    r_index: int | None = None,
    dataset: str | None = None,
    axis: InputAxis | None = None,
) -> tuple[dict[str, Figure], dict]:
    """Figures by artifact path under `attention/`, and a JSON-able summary for attention/maps.json.

    Uses at most `max_windows` windows, a seeded choice with each class's share capped so that rare
    classes keep their windows (`_balanced_choice`). Overlays show the `per_class`
    most confident correct and wrong windows of each class, attention beside Integrated Gradients
    with their deletion drops (the run's, from the interpretability metrics `scores`, when given),
    and `class_average_ig` the class-average IG (aligned on the R peak at `r_index` for beats;
    for a bearing `dataset` also `class_envelope_ig`, at the median nominal rpm); see
    `sigattn.explain.run_figures`. `channels_stage<k>` and `class_average_stage<k>` show per-class
    means of the channel gates and temporal maps. A model without gates gets only the IG figures
    and an empty summary. The summary keeps temporal maps at each stage's resolution with
    their `centers` (np.interp over them gives the map on input samples), softmax maps divided by
    each window's maximum as plotted; classes without windows are null. `class_distance` compares
    the class-average maps on input samples (`sigattn.explain.class_maps`). `axis` (default: time
    at `windows.fs`) is what the input's positions are; a spectrum input gets frequency axes and
    neither the R-peak alignment nor `class_envelope_ig`.
    """
    probs = np.asarray(probs)
    if probs.shape != (len(windows), len(windows.classes)):
        raise SigattnError(f"probs must be (N, K) = ({len(windows)}, {len(windows.classes)}); got {probs.shape}")
    keep = _balanced_choice(windows.y, len(windows.classes), max_windows)
    x, y, probs = windows.x[keep], windows.y[keep], probs[keep]
    side = None if windows.side is None else windows.side[keep]
    stages = [_shown(sa) for sa in collect_attention(model, x, side=side)]
    classes, k, length, fs = list(windows.classes), len(windows.classes), x.shape[-1], windows.fs or None
    head, rpm, axis = f"{run_name} · {block}", _rpm(windows, dataset), axis or InputAxis(fs)
    figures = faithfulness_figures(model, x, y, probs, stages, classes, head=head, axis=axis, side=side, index=keep,
                                   per_class=per_class, scores=scores, r_index=r_index, rpm=rpm)  # fmt: skip
    if not stages:
        return figures, {}
    timed = [sa for sa in stages if sa.temporal is not None]
    on_input = {sa.name: sa.temporal_on_input(length) for sa in timed}
    summary: dict = {"run_name": run_name, "block": block, "classes": classes, "n_windows": int(len(keep)),
                     "window_length": int(length), "fs": fs, "stages": []}  # fmt: skip
    for sa in stages:
        label = f"stage {sa.stage} ({sa.name})"
        entry: dict = {"name": sa.name, "stage": sa.stage, "receptive_field": sa.receptive_field}
        if sa.channel is not None:
            means, _ = _class_stats(sa.channel, y, k)
            figures[f"attention/channels_stage{sa.stage}.png"] = channel_heatmap_figure(means, classes, label, head)
            entry["channel_mean"] = {name: _rounded(means[c]) for c, name in enumerate(classes)}
        if sa.temporal is not None:
            mean, std = _class_stats(on_input[sa.name], y, k)
            times = np.arange(length)
            figures[f"attention/class_average_stage{sa.stage}.png"] = class_average_figure(
                times, mean, std, classes, label, head, axis, kind=sa.temporal_kind
            )
            stage_mean, stage_std = _class_stats(sa.temporal, y, k)
            entry |= {"temporal_kind": sa.temporal_kind, "centers": _rounded(sa.centers),
                      "temporal_mean": {name: _rounded(stage_mean[c]) for c, name in enumerate(classes)},
                      "temporal_std": {name: _rounded(stage_std[c]) for c, name in enumerate(classes)},
                      "class_distance": class_distance(on_input[sa.name], y, classes)}  # fmt: skip
        summary["stages"].append(entry)
    return figures, summary
