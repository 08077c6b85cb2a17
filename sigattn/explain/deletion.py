"""Does the model need what a map points at? Deletion against Integrated Gradients and random masks.

`deletion_test` masks the top `fraction` of samples by attention, by Integrated Gradients
(captum) and at random, and reports the accuracy drops.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from torch import nn

from sigattn.errors import SigattnError
from sigattn.evaluate.predict import predict_proba
from sigattn.explain.attribution import integrated_gradients


def _top_k_mask(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(N, L) bool: the k highest scores per row, ties broken at random."""
    order = np.lexsort((rng.random(scores.shape), -scores), axis=-1)[:, :k]
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return mask


def _accuracy(model: nn.Module, x: np.ndarray, side: np.ndarray | None, y: np.ndarray, batch_size: int) -> float:
    return float((predict_proba(model, x, batch_size, side=side).argmax(-1) == y).mean())


def deletion_test(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    attention_on_input: np.ndarray | None,
    *,
    views: dict[str, np.ndarray] | None = None,
    side: np.ndarray | None = None,
    fraction: float = 0.1,
    baseline: Literal["zero", "mean"] = "zero",
    seed: int = 0,
    ig_steps: int = 32,
    batch_size: int = 128,
    max_windows: int = 256,
) -> dict[str, float]:
    """Accuracy before and after masking the top `fraction` of samples by attention, IG and at random.

    Masked samples are set to 0 or to the window's per-channel mean; side features (the model's
    second input, if any) are never masked. At most `max_windows` windows are used (a seeded subset).
    With `attention_on_input` None the attention entries are left out. `views` adds more (N, L) maps
    (e.g. each stage and their product), each scored as `drop_attention_<name>` after the others,
    so the other entries do not change with it. Puts `model` in eval mode.
    """
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    if x.ndim != 3 or y.shape != (len(x),) or len(x) == 0:
        raise SigattnError(f"need x (N, C, L) and y (N,) with N >= 1; got {x.shape} and {y.shape}")
    views = dict(views or {})
    for name, given in (("attention_on_input", attention_on_input), *views.items()):
        if given is not None and np.shape(given) != (len(x), x.shape[-1]):
            raise SigattnError(f"{name} must be (N, L) = {(len(x), x.shape[-1])}; got {np.shape(given)}")
    if not 0 < fraction < 1 or baseline not in ("zero", "mean") or max_windows < 1:
        raise SigattnError(
            f"need 0 < fraction < 1, baseline 'zero' or 'mean' and max_windows >= 1; "
            f"got {fraction}, {baseline!r}, {max_windows}"
        )
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(x), max_windows, replace=False)) if len(x) > max_windows else np.arange(len(x))
    x, y = x[keep], y[keep]
    side = None if side is None else np.asarray(side, dtype=np.float32)[keep]
    k = max(1, round(fraction * x.shape[-1]))
    fill = x.mean(-1, keepdims=True) if baseline == "mean" else np.zeros_like(x[..., :1])
    scores = {"ig": integrated_gradients(model, x, y, side=side, steps=ig_steps, batch_size=batch_size)}
    scores["random"] = rng.random((len(x), x.shape[-1]))
    if attention_on_input is not None:
        scores["attention"] = np.asarray(attention_on_input, dtype=np.float64)[keep]
    scores |= {f"attention_{name}": np.asarray(m, dtype=np.float64)[keep] for name, m in views.items()}
    a0 = _accuracy(model, x, side, y, batch_size)
    out = {"accuracy": a0, "fraction": float(fraction), "n": len(x)}
    for name, score in scores.items():
        masked = np.where(_top_k_mask(score, k, rng)[:, None, :], fill, x)
        out[f"accuracy_{name}"] = _accuracy(model, masked, side, y, batch_size)
        out[f"drop_{name}"] = a0 - out[f"accuracy_{name}"]
    return out
