"""The training loss of a run (`train.loss`), built from the train split's class counts.

`cross_entropy` is the default. `focal` (Lin et al., 2017) scales each sample's cross-entropy by
(1 - p_true)^gamma, so well-classified (mostly normal) beats count less. `logit_adjusted` (Menon et
al., 2021, "Long-tail learning via logit adjustment") adds tau * log(class prior) to the logits
before the cross-entropy; only training sees it, so predictions favour rare classes. Each takes
the class weights of `train.balance: weights`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sigattn.config import TrainConfig
from sigattn.train.optim import class_weights


class FocalLoss(nn.Module):
    """Focal loss; with `weight`, the weighted mean as in `nn.CrossEntropyLoss` (gamma 0 equals it)."""

    def __init__(self, gamma: float, weight: Tensor | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        log_p = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
        loss = -((1 - log_p.exp()).pow(self.gamma)) * log_p
        if self.weight is None:
            return loss.mean()
        w = self.weight[target]
        return (w * loss).sum() / w.sum()


class LogitAdjustedLoss(nn.Module):
    """Cross-entropy on logits + tau * log(prior); `prior` holds the train split's class frequencies."""

    def __init__(self, prior: Tensor, tau: float, weight: Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("offset", tau * prior.clamp_min(1e-12).log())
        self.ce = nn.CrossEntropyLoss(weight=weight)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.ce(logits + self.offset, target)


def make_criterion(t: TrainConfig, counts: np.ndarray, device: torch.device) -> nn.Module:
    """The loss `t.loss` names, with class weights when `t.balance` is "weights"; `counts` are the
    windows per class of the train split."""
    weight = class_weights(counts).to(device) if t.balance == "weights" else None
    if t.loss == "focal":
        return FocalLoss(t.focal_gamma, weight).to(device)
    if t.loss == "logit_adjusted":
        prior = torch.as_tensor(counts / max(counts.sum(), 1), dtype=torch.float32)
        return LogitAdjustedLoss(prior, t.logit_tau, weight).to(device)
    return nn.CrossEntropyLoss(weight=weight)
