"""Integrated Gradients attributions of windows, shared by the deletion test and the figures.

`integrated_gradients` wraps captum's IntegratedGradients: zero baseline, the chosen class as
target, side features (RR of beat models) held fixed through `additional_forward_args`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def integrated_gradients(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    side: np.ndarray | None = None,
    steps: int = 32,
    batch_size: int = 128,
) -> np.ndarray:
    """(N, L) |Integrated Gradients| of class `y` (one per window) summed over channels (captum,
    zero baseline). Side features, when the model reads them, are held fixed (captum's
    additional_forward_args). Puts `model` in eval mode."""
    from captum.attr import IntegratedGradients

    model.eval()
    device = next(model.parameters()).device
    ig, parts = IntegratedGradients(model), []
    with torch.enable_grad():
        for s in range(0, len(x), batch_size):
            xb = torch.as_tensor(np.ascontiguousarray(x[s : s + batch_size], dtype=np.float32), device=device)
            target = torch.as_tensor(np.asarray(y[s : s + batch_size]), dtype=torch.long, device=device)
            extra = None if side is None else (torch.as_tensor(side[s : s + batch_size], device=device),)
            attr = ig.attribute(
                xb,
                baselines=torch.zeros_like(xb),
                target=target,
                additional_forward_args=extra,
                n_steps=steps,
                internal_batch_size=batch_size,
            )
            parts.append(attr.detach().abs().sum(1).float().cpu().numpy())
    return np.concatenate(parts)
