"""Attention maps as figures: arrays in, `matplotlib.figure.Figure` out (no pyplot, nothing saved).

`attention_report` turns a model and a split into the figures and the JSON summary that
`fit` logs under `attention/`. Softmax (GC) temporal maps are divided by their per-window
maximum, so every map shown lies in 0-1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import nn

from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.explain.capture import StageAttention, collect_attention
from sigattn.explain.class_maps import class_distance

PANEL = (10.0, 2.2)  # inches per panel row
DPI = 100
CMAP = "YlOrRd"
SIGMOID_LABEL = "attention weight (0-1)"
SOFTMAX_LABEL = "softmax weight / window max (0-1)"

StageMap = tuple[str, np.ndarray] | tuple[str, np.ndarray, str]


def _label(kind: str | None) -> str:
    return SOFTMAX_LABEL if kind == "softmax" else SIGMOID_LABEL


def _time_axis(length: int, fs: float | None) -> tuple[np.ndarray, str]:
    t = np.arange(length, dtype=np.float64)
    return (t / fs, "time (s)") if fs else (t, "time (samples)")


def _first_channel(signal: np.ndarray, stages: Sequence, figure: str) -> np.ndarray:
    """Channel 0 of a (C, L) or (L,) window, checked together with the panels to draw."""
    signal = np.asarray(signal, dtype=np.float64)
    trace = signal[0] if signal.ndim == 2 else signal
    if trace.ndim != 1 or not stages:
        raise SigattnError(f"{figure} needs a (C, L) or (L,) signal and >= 1 stage; got {signal.shape}, {len(stages)}")
    return trace


def overlay_figure(signal: np.ndarray, fs: float | None, stages: Sequence[StageMap], title: str) -> Figure:
    """The window's first channel with each stage's temporal map as a colour strip behind it.

    `stages`: (name, map (L,) on input samples[, kind]) per panel; kind "sigmoid" (default) or
    "softmax" (then the map is divided by its maximum). Time is in seconds when `fs` is given.
    """
    trace = _first_channel(signal, stages, "overlay_figure")
    t, xlabel = _time_axis(len(trace), fs)
    dt = t[1] - t[0] if len(t) > 1 else 1.0
    low, high = float(trace.min()), float(trace.max())
    pad = 0.08 * (high - low) or 1.0
    fig = Figure(figsize=(PANEL[0], PANEL[1] * len(stages) + 0.5), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(stages), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, weights, *kind) in zip(axes, stages, strict=True):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != trace.shape:
            raise SigattnError(f"stage {name!r}: map has shape {weights.shape}; the signal has {trace.shape}")
        kind = kind[0] if kind else "sigmoid"
        if kind == "softmax":
            weights = weights / max(float(weights.max()), np.finfo(float).tiny)
        extent = (t[0] - dt / 2, t[-1] + dt / 2, low - pad, high + pad)
        strip = ax.imshow(weights[None, :], aspect="auto", extent=extent, cmap=CMAP, vmin=0.0, vmax=1.0,
                          interpolation="nearest", origin="lower")  # fmt: skip
        ax.plot(t, trace, color="black", linewidth=0.7)
        ax.set_ylim(low - pad, high + pad)
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_ylabel("amplitude (ch 0)")
        fig.colorbar(strip, ax=ax, label=_label(kind), fraction=0.03, pad=0.01)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=10)
    return fig


def channel_gate_figure(
    signal: np.ndarray, fs: float | None, stages: Sequence[tuple[str, np.ndarray]], title: str
) -> Figure:
    """The window's first channel on top, then one bar panel per stage with its channel gates (C,), 0-1.

    For blocks whose only gate is per channel (SE, ECA): the gate scales whole channels, so it is
    drawn per channel beside the signal rather than on its time axis.
    """
    trace = _first_channel(signal, stages, "channel_gate_figure")
    t, xlabel = _time_axis(len(trace), fs)
    fig = Figure(figsize=(PANEL[0], PANEL[1] * (len(stages) + 1) + 0.5), dpi=DPI, layout="constrained")
    top, *panels = fig.subplots(len(stages) + 1, 1, squeeze=False)[:, 0]
    top.plot(t, trace, color="black", linewidth=0.7)
    top.set_xlim(t[0], t[-1])
    top.set_xlabel(xlabel)
    top.set_ylabel("amplitude (ch 0)")
    top.set_title("input", fontsize=9, loc="left")
    cmap = colormaps[CMAP]
    for ax, (name, gates) in zip(panels, stages, strict=True):
        gates = np.asarray(gates, dtype=np.float64)
        if gates.ndim != 1:
            raise SigattnError(f"stage {name!r}: channel gates must be (C,); got shape {gates.shape}")
        ax.bar(np.arange(len(gates)), gates, width=0.85, color=cmap(np.clip(gates, 0.0, 1.0)), edgecolor="grey")
        ax.set_ylim(0.0, 1.0)
        ax.set_xlim(-0.5, len(gates) - 0.5)
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_ylabel("channel gate (0-1)")
        ax.grid(axis="y", alpha=0.3)
    panels[-1].set_xlabel("channel of the stage")
    fig.suptitle(title, fontsize=10)
    return fig


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
    fs: float | None,
    *,
    kind: str | None = "sigmoid",
) -> Figure:
    """Mean temporal map per class with a +-`spread` band; `times` are input sample indices,
    shown in seconds when `fs` is given."""
    mean, spread = np.asarray(mean, dtype=np.float64), np.asarray(spread, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if mean.shape != spread.shape or mean.shape != (len(classes), len(times)):
        raise SigattnError(
            f"mean and spread must be (K, L) = ({len(classes)}, {len(times)}); got {mean.shape} and {spread.shape}"
        )
    t = times / fs if fs else times
    fig = Figure(figsize=(PANEL[0], 3.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for k, name in enumerate(classes):
        if np.isnan(mean[k]).all():
            continue
        (line,) = ax.plot(t, mean[k], linewidth=1.2, label=name)
        ax.fill_between(t, mean[k] - spread[k], mean[k] + spread[k], color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("time (s)" if fs else "time (samples)")
    ax.set_ylabel(f"mean {_label(kind)}")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlim(t[0], t[-1])
    ax.grid(alpha=0.3)
    ax.legend(title="true class (mean ± std)", fontsize=8, ncol=max(1, len(classes) // 6), loc="upper right")
    ax.set_title(f"{title}: {stage_name}, mean temporal attention per class", fontsize=10)
    return fig


def _shown(sa: StageAttention) -> StageAttention:
    """The stage with its temporal map in 0-1 (softmax maps divided by each window's maximum)."""
    if sa.temporal is None or sa.temporal_kind != "softmax":
        return sa
    return replace(sa, temporal=sa.temporal / np.maximum(sa.temporal.max(axis=1, keepdims=True), 1e-12))


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z.-]+", "-", name).strip("-") or "class"


def _rounded(a: np.ndarray) -> list:
    return [None if not np.isfinite(v) else round(float(v), 5) for v in np.ravel(a)]


def _class_stats(values: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.full((k, values.shape[1]), np.nan)
    std = np.full((k, values.shape[1]), np.nan)
    for c in range(k):
        if (y == c).any():
            mean[c], std[c] = values[y == c].mean(axis=0), values[y == c].std(axis=0)
    return mean, std


def _examples(y: np.ndarray, probs: np.ndarray, per_class: int, k: int) -> list[tuple[int, str, int, int]]:
    """(class, "correct"/"wrong", i, window index): the most confident correct and wrong windows."""
    pred, out = probs.argmax(axis=1), []
    for c in range(k):
        mine = np.flatnonzero(y == c)
        right, wrong = mine[pred[mine] == c], mine[pred[mine] != c]
        right = right[np.argsort(-probs[right, c], kind="stable")][:per_class]
        wrong = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:per_class]
        out += [(c, "correct", i, int(w)) for i, w in enumerate(right)]
        out += [(c, "wrong", i, int(w)) for i, w in enumerate(wrong)]
    return out


def _balanced_choice(y: np.ndarray, k: int, limit: int) -> np.ndarray:
    """Sorted indices of at most `limit` windows: every class gets an equal share (all its windows if
    fewer), the share left over goes to the other classes; seeded, so a rerun picks the same windows."""
    if len(y) <= limit:
        return np.arange(len(y))
    rng = np.random.default_rng(0)
    pools = [rng.permutation(np.flatnonzero(y == c)) for c in range(k)]
    take, left = [0] * k, limit
    while left > 0:
        open_ = [c for c in range(k) if take[c] < len(pools[c])]
        share = max(1, left // len(open_))
        for c in open_:
            extra = min(share, len(pools[c]) - take[c], left)
            take[c], left = take[c] + extra, left - extra
    return np.sort(np.concatenate([pool[:t] for pool, t in zip(pools, take, strict=True)]))


def attention_report(
    model: nn.Module,
    windows: Windows,
    probs: np.ndarray,
    *,
    run_name: str,
    block: str,
    per_class: int = 2,
    max_windows: int = 512,
) -> tuple[dict[str, Figure], dict]:
    """Figures by artifact path under `attention/`, and a JSON-able summary for attention/maps.json.

    Uses at most `max_windows` windows, a seeded choice with each class's share capped so that rare
    classes keep their windows (`_balanced_choice`). Overlays show the `per_class`
    most confident correct and wrong windows of each class; `channels_stage<k>` and
    `class_average_stage<k>` show per-class means of the channel gates and temporal maps. A model
    without gates gives ({}, {}). The summary keeps temporal maps at each stage's resolution with
    their `centers` (np.interp over them gives the map on input samples), softmax maps divided by
    each window's maximum as plotted; classes without windows are null. `class_distance` compares
    the class-average maps on input samples (`sigattn.explain.class_maps`).
    """
    probs = np.asarray(probs)
    if probs.shape != (len(windows), len(windows.classes)):
        raise SigattnError(f"probs must be (N, K) = ({len(windows)}, {len(windows.classes)}); got {probs.shape}")
    keep = _balanced_choice(windows.y, len(windows.classes), max_windows)
    x, y, probs = windows.x[keep], windows.y[keep], probs[keep]
    side = None if windows.side is None else windows.side[keep]
    stages = [_shown(sa) for sa in collect_attention(model, x, side=side)]
    if not stages:
        return {}, {}
    classes, k, length, fs = list(windows.classes), len(windows.classes), x.shape[-1], windows.fs or None
    head = f"{run_name} · {block}"
    figures: dict[str, Figure] = {}
    timed = [sa for sa in stages if sa.temporal is not None]
    if timed:
        on_input = {sa.name: sa.temporal_on_input(length) for sa in timed}
        pred = probs.argmax(axis=1)
        for c, outcome, i, w in _examples(y, probs, per_class, k):
            panels = [(f"stage {sa.stage} ({sa.name}, RF {sa.receptive_field} samples)", on_input[sa.name][w],
                       sa.temporal_kind or "sigmoid") for sa in timed]  # fmt: skip
            title = (f"{head}: class {classes[c]}, {outcome} (predicted {classes[pred[w]]}, "
                     f"p={probs[w, pred[w]]:.2f}), window {int(keep[w])}")  # fmt: skip
            figures[f"attention/overlay_{_safe(classes[c])}_{outcome}_{i}.png"] = overlay_figure(
                x[w], fs, panels, title
            )
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
                times, mean, std, classes, label, head, fs, kind=sa.temporal_kind
            )
            stage_mean, stage_std = _class_stats(sa.temporal, y, k)
            entry |= {"temporal_kind": sa.temporal_kind, "centers": _rounded(sa.centers),
                      "temporal_mean": {name: _rounded(stage_mean[c]) for c, name in enumerate(classes)},
                      "temporal_std": {name: _rounded(stage_std[c]) for c, name in enumerate(classes)},
                      "class_distance": class_distance(on_input[sa.name], y, classes)}  # fmt: skip
        summary["stages"].append(entry)
    return figures, summary
