"""The figures of a training run that weigh attention against Integrated Gradients.

`faithfulness_figures` draws, for the most confident correct and wrong windows of each class, the
per-window overlays of `sigattn.explain.window_panels` (attention views, IG, channel gates, deletion
drops), one class-average IG figure (`sigattn.explain.ig_average`) and, for bearings with a time
input, the IG envelope spectrum per class (`sigattn.explain.ig_spectrum`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from sigattn.explain.attribution import integrated_gradients
from sigattn.explain.axis import InputAxis
from sigattn.explain.capture import StageAttention
from sigattn.explain.ig_average import ig_class_average_figure
from sigattn.explain.ig_spectrum import ig_envelope_figure
from sigattn.explain.window_panels import IG_STEPS, window_figures


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z.-]+", "-", name).strip("-") or "class"


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


def _rows(stages: list[StageAttention], rows: np.ndarray) -> list[StageAttention]:
    """The stages' maps of windows `rows` only."""
    return [
        replace(
            sa,
            channel=None if sa.channel is None else sa.channel[rows],
            temporal=None if sa.temporal is None else sa.temporal[rows],
        )
        for sa in stages
    ]


def faithfulness_figures(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    probs: np.ndarray,
    stages: list[StageAttention],
    classes: list[str],
    *,
    head: str,
    axis: InputAxis,
    side: np.ndarray | None = None,
    index: np.ndarray | None = None,
    per_class: int = 2,
    scores: Mapping[str, float] | None = None,
    r_index: int | None = None,
    rpm: float | None = None,
    ig_windows: int = 64,
    ig_steps: int = IG_STEPS,
) -> dict[str, Figure]:
    """`attention/overlay_<class>_<correct|wrong>_<i>.png` per example window and
    `attention/class_average_ig.png` (IG of the true class on up to `ig_windows` windows, a
    balanced seeded choice); with `rpm` (bearings) and a time `axis` with fs also
    `attention/class_envelope_ig.png`, the envelope spectrum of the same IG maps with the fault
    frequencies marked. `r_index` (the R peak) applies to a time axis only. `stages` were
    collected on `x`; `index` numbers the windows in titles (default their row); IG of each
    overlay is for the predicted class."""
    index = np.arange(len(x)) if index is None else np.asarray(index)
    pred, k = probs.argmax(axis=1), len(classes)
    examples = _examples(y, probs, per_class, k)
    figures: dict[str, Figure] = {}
    if examples:
        rows = np.array([w for *_, w in examples])
        headings = [f"{head}: class {classes[c]}, {outcome} (predicted {classes[pred[w]]}, "
                    f"p={probs[w, pred[w]]:.2f}), window {int(index[w])}" for c, outcome, _, w in examples]  # fmt: skip
        sub_side = None if side is None else side[rows]
        made = window_figures(model, x[rows], _rows(stages, rows), pred[rows], headings, classes, axis=axis,
                              side=sub_side, run_scores=scores, ig_steps=ig_steps)  # fmt: skip
        for (c, outcome, i, _), (figure, _) in zip(examples, made, strict=True):
            figures[f"attention/overlay_{_safe(classes[c])}_{outcome}_{i}.png"] = figure
    pick = _balanced_choice(y, k, ig_windows)
    ig = integrated_gradients(model, x[pick], y[pick], side=None if side is None else side[pick], steps=ig_steps)
    aligned = r_index if axis.is_time else None
    figures["attention/class_average_ig.png"] = ig_class_average_figure(
        ig, y[pick], classes, axis, head, r_index=aligned
    )
    if rpm is not None and axis.is_time and axis.fs:
        figures["attention/class_envelope_ig.png"] = ig_envelope_figure(ig, y[pick], classes, axis.fs, rpm, head)
    return figures
