"""Attention views on input time, and how much each one matters for a window's prediction.

A view is one stage's temporal map, or the product of every stage's map ("product"), on input
samples and in 0-1 (softmax maps divided by each window's maximum). `best_first` orders views by
their deletion drop, so the figures draw the most faithful view first.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from torch import nn

from sigattn.evaluate.predict import predict_proba
from sigattn.explain.capture import StageAttention, temporal_stages


def attention_views(stages: list[StageAttention], length: int) -> dict[str, np.ndarray]:
    """{"stage<k>": (N, length)} per stage with a temporal map, plus "product" when there are two or more."""
    views: dict[str, np.ndarray] = {}
    for sa in temporal_stages(stages):
        m = sa.temporal_on_input(length).astype(np.float64)
        if sa.temporal_kind == "softmax":
            m = m / np.maximum(m.max(axis=1, keepdims=True), 1e-12)
        views[f"stage{sa.stage}"] = m
    if len(views) > 1:
        views["product"] = np.prod(np.stack(list(views.values())), axis=0)
    return views


def view_label(name: str, stages: list[StageAttention]) -> str:
    """A panel title for a view: its stage, block path and receptive field, or the stages multiplied."""
    timed = temporal_stages(stages)
    if name == "product":
        return f"attention: product of stages {', '.join(str(sa.stage) for sa in timed)}"
    sa = next(sa for sa in timed if f"stage{sa.stage}" == name)
    return f"attention: stage {sa.stage} ({sa.name}, RF {sa.receptive_field} samples)"


def best_first(names: list[str], drops: Mapping[str, float]) -> list[str]:
    """`names` by deletion drop, largest first (views without a drop last, in their given order)."""
    return sorted(names, key=lambda n: -drops[n] if n in drops else np.inf)


def window_drops(
    model: nn.Module,
    x: np.ndarray,
    maps: Mapping[str, np.ndarray],
    target: np.ndarray,
    *,
    side: np.ndarray | None = None,
    fraction: float = 0.1,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Per window (N,): p(target) minus p(target) with the top `fraction` of samples by each map set to 0.

    A "random" entry masks random samples, the reference a map must beat."""
    x = np.asarray(x, dtype=np.float32)
    rng = np.random.default_rng(seed)
    rows, k = np.arange(len(x)), max(1, round(fraction * x.shape[-1]))
    p0 = predict_proba(model, x, side=side)[rows, target]
    out = {}
    for name, m in {**maps, "random": rng.random((len(x), x.shape[-1]))}.items():
        top = np.argsort(-np.asarray(m, dtype=np.float64), axis=-1, kind="stable")[:, :k]
        masked = x.copy()
        np.put_along_axis(masked, np.broadcast_to(top[:, None, :], (*x.shape[:2], k)), 0.0, axis=-1)
        out[name] = p0 - predict_proba(model, masked, side=side)[rows, target]
    return out
