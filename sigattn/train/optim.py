"""The optimiser, the learning-rate schedule and class weights of a run, built from `TrainConfig`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from sigattn.config import TrainConfig


def make_optimizer(model: nn.Module, t: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """SGD or AdamW; on CUDA AdamW runs as one fused kernel."""
    if t.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=t.lr, momentum=t.momentum, nesterov=t.momentum > 0, weight_decay=t.weight_decay
        )
    fused = True if device.type == "cuda" else None
    return torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay, fused=fused)


def make_scheduler(optimizer: torch.optim.Optimizer, t: TrainConfig, steps: int) -> Any:
    """cosine (per epoch), onecycle (per batch), plateau (on the monitor: halve the lr) or None."""
    if t.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs)
    if t.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=t.epochs * steps)
    if t.schedule == "plateau":
        mode = "min" if t.monitor == "val_loss" else "max"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode, factor=0.5, patience=max(1, t.patience // 2))
    return None


def class_weights(counts: np.ndarray) -> torch.Tensor:
    """Inverse class frequency, normalised so the weighted mean over the samples is 1."""
    weights = np.where(counts > 0, counts.sum() / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)
