"""Pieces every backbone shares: block-per-stage names, length and receptive-field arithmetic, the head."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from sigattn.errors import SigattnError

BlockChoice = str | Sequence[str]


def blocks_per_stage(block: BlockChoice, stages: int) -> list[str]:
    """One block name per stage: a single name is used for every stage."""
    if isinstance(block, str):
        return [block] * stages
    names = list(block)
    if len(names) != stages:
        raise SigattnError(f"block: got {len(names)} names for {stages} stages; give one name or {stages}")
    return names


def conv_length(length: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a Conv1d (dilation 1)."""
    return (length + 2 * padding - kernel) // stride + 1


def pool_length(length: int, kernel: int = 2, stride: int = 2) -> int:
    """Output length of MaxPool1d(kernel, stride, ceil_mode=True) without padding."""
    out = math.ceil((length - kernel) / stride) + 1
    if (out - 1) * stride >= length:
        out -= 1
    return max(out, 0)


def smallest_valid_length(lengths_for, limit: int = 1 << 16) -> int:
    """The shortest input for which every stage keeps at least one sample."""
    for length in range(1, limit):
        if min(lengths_for(length)) >= 1:
            return length
    raise SigattnError(f"this backbone accepts no input shorter than {limit} samples")


def check_length(length: int, minimum: int, name: str) -> None:
    if length < minimum:
        raise SigattnError(f"backbone {name!r} needs windows of at least {minimum} samples; got {length}")


def check_side(n_side: int) -> int:
    """Validated number of side features: the model's second input, (N, F) beside the (N, C, L) signal."""
    if isinstance(n_side, bool) or not isinstance(n_side, int) or n_side < 0:
        raise SigattnError(f"side_features must be a non-negative integer; got {n_side!r}")
    return n_side


class Head(nn.Module):
    """Adaptive average pool to `pooled` steps, then `side` features (batch-normalised, so their
    scale matches the CNN features) appended, optional hidden layer, dropout, linear.

    The head computes in its weights' dtype (fp32), also inside a bf16/fp16 autocast: it is a tiny
    share of the arithmetic, and logits rounded to bf16's 8 mantissa bits lose resolution.
    """

    def __init__(
        self, channels: int, num_classes: int, *, pooled: int = 1, hidden: int = 0, dropout: float = 0.0, side: int = 0
    ):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise SigattnError(f"dropout must be in [0, 1); got {dropout}")
        for name, value, least in (("head_pooled", pooled, 1), ("head_hidden", hidden, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise SigattnError(f"{name} must be an integer >= {least}; got {value!r}")
        features = channels * pooled + side
        self.side_norm = nn.BatchNorm1d(side) if side else None
        layers: list[nn.Module] = [nn.AdaptiveAvgPool1d(pooled), nn.Flatten()]
        if hidden:
            layers += [nn.Linear(features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
            features = hidden
        layers += [nn.Dropout(dropout), nn.Linear(features, num_classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        if self.side_norm is not None and side is None:
            raise SigattnError(f"this model reads {self.side_norm.num_features} side features: pass `side` (N, F)")
        dtype = self.layers[-1].weight.dtype
        with torch.autocast(x.device.type, enabled=False):
            z = self.layers[1](self.layers[0](x.to(dtype)))  # pool, flatten
            if self.side_norm is not None:
                z = torch.cat([z, self.side_norm(side.to(dtype))], dim=1)
            return self.layers[2:](z)


class Field(NamedTuple):
    """Where positions of a feature map sit on the input: position j is centred on input sample
    `first + j * jump` and sees `size` input samples (padding included)."""

    first: float = 0.0
    jump: int = 1
    size: int = 1

    def through(self, kernel: int, stride: int = 1, padding: int = 0) -> Field:
        """The field after a Conv1d or MaxPool1d (dilation 1; ceil_mode adds no offset).

        Output j reads positions j*s - p .. j*s - p + k - 1, whose centre (k - 1)/2 - p + j*s
        lies at input sample first + jump * ((k - 1)/2 - p + j*s).
        """
        return Field(self.first + self.jump * ((kernel - 1) / 2 - padding), self.jump * stride,
                     self.size + (kernel - 1) * self.jump)  # fmt: skip

    def centers(self, length: int) -> np.ndarray:
        """(length,) float input-sample centres of positions 0..length-1."""
        return self.first + self.jump * np.arange(length, dtype=np.float64)
