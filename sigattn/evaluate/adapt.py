"""AdaBN: BatchNorm statistics re-estimated on unlabelled windows of the data a model is applied to.

Li et al. (Pattern Recognition 2018) replace each BatchNorm layer's running mean and variance by
those of the target domain; WDCNN (Zhang et al., Sensors 2017) uses it across CWRU loads. It reads
the target windows (never their labels), so results with it are domain adaptation, not
generalisation, and are reported apart.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from sigattn.errors import SigattnError

ADAPTED_PREFIX = "adabn"  # metrics of the adapted model: <split>_adabn_<metric>
ADAPTED_LABEL = "+AdaBN (target data)"  # how summaries and messages name the adapted variant


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of `model` that tracks running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def adapt_batchnorm(
    model: nn.Module, x: np.ndarray, *, side: np.ndarray | None = None, batch_size: int = 256
) -> nn.Module:
    """A copy of `model` whose BatchNorm running statistics are the averages over `x` (N, C, L) (and its
    side features `side`), in batches of nearly equal size; every other weight is unchanged.

    The copy is in eval mode; `model` itself is not touched.
    """
    if len(x) < 2:
        raise SigattnError(f"AdaBN needs at least 2 unlabelled windows to estimate statistics; got {len(x)}")
    adapted = copy.deepcopy(model).eval()
    layers = batchnorm_layers(adapted)
    if not layers:
        raise SigattnError("AdaBN needs a model with BatchNorm layers; this model has none")
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a plain average over the batches
        layer.train()
    device = next(adapted.parameters()).device
    parts = max(1, -(-len(x) // batch_size))
    if len(x) // parts < 2:  # a batch of one window has no variance
        parts = len(x) // 2
    with torch.no_grad():
        for rows in np.array_split(np.arange(len(x)), parts):
            inputs = [torch.from_numpy(np.ascontiguousarray(a[rows], dtype=np.float32)).to(device)
                      for a in (x, side) if a is not None]  # fmt: skip
            adapted(*inputs)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    return adapted.eval()
