"""One window as a figure: its signal with colour strips of maps behind it, and channel-gate bars.

Strips share the input's axis (`sigattn.explain.axis`: time, or frequency for a spectrum input).
Kinds: "sigmoid" (0-1 as is), "softmax" and "ig" (divided by the window's maximum), "product" (a
product of 0-1 maps).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from sigattn.errors import SigattnError
from sigattn.explain.axis import InputAxis

PANEL = (10.0, 2.2)  # inches per panel row
DPI = 100
CMAP = "YlOrRd"
SIGMOID_LABEL = "attention weight (0-1)"
SOFTMAX_LABEL = "softmax weight / window max (0-1)"
LABELS = {
    "sigmoid": SIGMOID_LABEL,
    "softmax": SOFTMAX_LABEL,
    "ig": "|IG| / window max (0-1)",
    "product": "product of stage maps (0-1)",
}

StageMap = tuple[str, np.ndarray] | tuple[str, np.ndarray, str]


def _label(kind: str | None) -> str:
    return LABELS.get(kind or "sigmoid", SIGMOID_LABEL)


def _first_channel(signal: np.ndarray, stages: Sequence, figure: str) -> np.ndarray:
    """Channel 0 of a (C, L) or (L,) window, checked together with the panels to draw."""
    signal = np.asarray(signal, dtype=np.float64)
    trace = signal[0] if signal.ndim == 2 else signal
    if trace.ndim != 1 or not stages:
        raise SigattnError(f"{figure} needs a (C, L) or (L,) signal and >= 1 stage; got {signal.shape}, {len(stages)}")
    return trace


def _bars(ax, name: str, gates: np.ndarray) -> None:
    gates = np.asarray(gates, dtype=np.float64)
    if gates.ndim != 1:
        raise SigattnError(f"stage {name!r}: channel gates must be (C,); got shape {gates.shape}")
    color = colormaps[CMAP](np.clip(gates, 0.0, 1.0))
    ax.bar(np.arange(len(gates)), gates, width=0.85, color=color, edgecolor="grey")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(-0.5, len(gates) - 0.5)
    ax.set_title(name, fontsize=9, loc="left")
    ax.set_ylabel("channel gate (0-1)")
    ax.set_xlabel("channel of the stage")
    ax.grid(axis="y", alpha=0.3)


def overlay_figure(
    signal: np.ndarray,
    axis: InputAxis,
    stages: Sequence[StageMap],
    title: str,
    *,
    note: str | None = None,
    gates: Sequence[tuple[str, np.ndarray]] = (),
) -> Figure:
    """The window's first channel with each map as a colour strip behind it, one panel per map,
    then one bar panel per entry of `gates` (name, channel gates (C,)).

    `stages`: (name, map (L,) on input positions[, kind]) per panel, kinds as in the module doc.
    `note` (e.g. the deletion drops) is a second line of the title.
    """
    trace = _first_channel(signal, stages, "overlay_figure")
    t = axis.at(np.arange(len(trace)))
    dt = t[1] - t[0] if len(t) > 1 else 1.0
    low, high = float(trace.min()), float(trace.max())
    pad = 0.08 * (high - low) or 1.0
    rows = len(stages) + len(gates)
    fig = Figure(figsize=(PANEL[0], PANEL[1] * rows + 0.7), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, (name, weights, *kind) in zip(axes, stages, strict=False):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != trace.shape:
            raise SigattnError(f"stage {name!r}: map has shape {weights.shape}; the signal has {trace.shape}")
        kind = kind[0] if kind else "sigmoid"
        if kind in ("softmax", "ig"):
            weights = weights / max(float(weights.max()), np.finfo(float).tiny)
        extent = (t[0] - dt / 2, t[-1] + dt / 2, low - pad, high + pad)
        strip = ax.imshow(weights[None, :], aspect="auto", extent=extent, cmap=CMAP, vmin=0.0, vmax=1.0,
                          interpolation="nearest", origin="lower")  # fmt: skip
        ax.plot(t, trace, color="black", linewidth=0.7)
        ax.set_ylim(low - pad, high + pad)
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_ylabel(axis.trace_label)
        ax.set_xlabel(axis.label)
        fig.colorbar(strip, ax=ax, label=_label(kind), fraction=0.03, pad=0.01)
    for ax, (name, g) in zip(axes[len(stages) :], gates, strict=True):
        _bars(ax, name, g)
    fig.suptitle(title if note is None else f"{title}\n{note}", fontsize=10)
    return fig


def finish_class_axes(ax, t: np.ndarray, xlabel: str, ylabel: str, n_classes: int, title: str) -> None:
    """Labels, 0-1 range, grid, legend and title of a per-class mean-map plot."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlim(t[0], t[-1])
    ax.grid(alpha=0.3)
    ax.legend(title="true class (mean ± std)", fontsize=8, ncol=max(1, n_classes // 6), loc="upper right")
    ax.set_title(title, fontsize=10)
