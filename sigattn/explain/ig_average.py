"""Where Integrated Gradients puts each class's evidence: the class-average attribution along the input.

Each window's |IG| is divided by its maximum, then averaged per true class (± 1 std band). ECG
beats are aligned on the R peak (time in ms from R) with the QRS and P-wave windows shaded, the
spans `sigattn.explain.ecg_mass` scores attention mass in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from sigattn.errors import SigattnError
from sigattn.explain.axis import InputAxis
from sigattn.explain.ecg_mass import P_WINDOW_MS, QRS_MS
from sigattn.explain.overlay import DPI, PANEL, finish_class_axes


def ig_class_average_figure(
    ig: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    axis: InputAxis,
    title: str,
    *,
    r_index: int | None = None,
) -> Figure:
    """Mean |IG| / window max per class along the input `axis`, or in ms from the R peak at sample
    `r_index` of a time input (then the QRS window R ± 50 ms and the P window R-250 .. R-120 ms are shaded)."""
    ig, y = np.asarray(ig, dtype=np.float64), np.asarray(y)
    if ig.ndim != 2 or y.shape != (len(ig),) or len(ig) == 0:
        raise SigattnError(f"need ig (N, L) and y (N,) with N >= 1; got {ig.shape} and {y.shape}")
    if r_index is not None and not (axis.is_time and axis.fs and 0 <= r_index < ig.shape[1]):
        raise SigattnError(
            f"R-peak alignment needs a time input with fs > 0 and 0 <= r_index < L; "
            f"got {axis.label} at fs={axis.fs}, r_index={r_index}"
        )
    shown = ig / np.maximum(ig.max(axis=1, keepdims=True), np.finfo(float).tiny)
    samples = np.arange(ig.shape[1], dtype=np.float64)
    if r_index is not None:
        t, xlabel = (samples - r_index) * 1000.0 / axis.fs, "time from R peak (ms)"
    else:
        t, xlabel = axis.at(samples), axis.label
    fig = Figure(figsize=(PANEL[0], 3.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    if r_index is not None:
        ax.axvspan(-QRS_MS, QRS_MS, color="tab:red", alpha=0.1, label=f"QRS (R ± {QRS_MS:g} ms)")
        ax.axvspan(*P_WINDOW_MS, color="tab:blue", alpha=0.1, label="P wave (R-250 .. R-120 ms)")
    for c, name in enumerate(classes):
        rows = shown[y == c]
        if len(rows) == 0:
            continue
        mean, std = rows.mean(axis=0), rows.std(axis=0)
        (line,) = ax.plot(t, mean, linewidth=1.2, label=f"{name} (n={len(rows)})")
        ax.fill_between(t, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0)
    heading = f"{title}: Integrated Gradients, mean |attribution| per class"
    finish_class_axes(ax, t, xlabel, "mean |IG| / window max (0-1)", len(classes), heading)
    return fig
