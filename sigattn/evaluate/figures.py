"""Arrays in, `matplotlib.figure.Figure` out: no pyplot state, nothing written to disk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sigattn.errors import SigattnError


def confusion_figure(cm: np.ndarray | Sequence[Sequence[int]], classes: Sequence[str], title: str) -> Figure:
    """Row-normalised confusion matrix (true class per row) with the counts annotated."""
    counts = np.asarray(cm, dtype=np.int64)
    k = len(classes)
    if counts.shape != (k, k):
        raise SigattnError(f"confusion matrix must be {k}x{k} for {k} classes; got shape {counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    size = 2.5 + 0.55 * k
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    font = max(6, 11 - k // 3)
    for i in range(k):
        for j in range(k):
            colour = "white" if rates[i, j] > 0.5 else "black"
            ax.text(j, i, f"{counts[i, j]}\n{rates[i, j]:.0%}", ha="center", va="center", color=colour, fontsize=font)
    ax.set_xticks(range(k), labels=list(classes), rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return fig


def curves_figure(history: Sequence[dict[str, Any]], title: str, monitor: str = "val_macro_f1") -> Figure:
    """Train/val loss and the monitored validation metric per epoch."""
    if not history:
        raise SigattnError("curves_figure needs a history with at least one epoch; got none")
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, metric_ax = fig.subplots(1, 2)
    for key, label in (("train_loss", "train"), ("val_loss", "val")):
        values = [h.get(key, np.nan) for h in history]
        loss_ax.plot(epochs, values, marker="o", label=label)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("cross-entropy loss")
    loss_ax.legend()
    loss_ax.grid(alpha=0.3)
    shown = [monitor] if monitor != "val_loss" else []
    shown += [m for m in ("val_accuracy", "val_macro_f1") if m not in shown]
    for key in shown:
        metric_ax.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key)
    metric_ax.set_xlabel("epoch")
    metric_ax.set_ylabel("validation metric")
    metric_ax.set_ylim(0.0, 1.02)
    metric_ax.legend()
    metric_ax.grid(alpha=0.3)
    for ax in (loss_ax, metric_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    return fig
