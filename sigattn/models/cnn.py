"""A plain 1D CNN with an attention block per stage, and the WDCNN preset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor, nn
from torch.nn import functional as F

from sigattn.blocks import create_block
from sigattn.blocks.ops import EndsPerChannel
from sigattn.errors import SigattnError
from sigattn.models.layers import (
    BlockChoice,
    Field,
    Head,
    blocks_per_stage,
    check_length,
    check_side,
    conv_length,
    pool_length,
    smallest_valid_length,
)
from sigattn.models.pooling import HalvingMaxPool


class KernelDropoutConv1d(nn.Conv1d):
    """A Conv1d whose kernel weights are dropped at random while training (DropConnect, as TICNN's
    first-layer kernel dropout): each batch sees a slightly different filter bank."""

    def __init__(self, *args, p: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0.0 <= p < 1.0:
            raise SigattnError(f"kernel_dropout must be in [0, 1); got {p!r}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and self.p):
            return super().forward(x)
        return self._conv_forward(x, F.dropout(self.weight, self.p, training=True), self.bias)


class ConvStage(nn.Module):
    """Conv1d -> BatchNorm -> ReLU -> attention block -> MaxPool(2).

    A block whose forward ends in per-channel steps (`EndsPerChannel`: SE, ECA, GC, CA's channel
    gate) has them applied after the pooling, where they commute with it exactly and touch half the
    samples.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, block: str,
        kernel_dropout: float = 0.0,
    ):  # fmt: skip
        super().__init__()
        self.conv = KernelDropoutConv1d(
            in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False, p=kernel_dropout
        )
        self.bn = nn.BatchNorm1d(out_channels)
        self.act = nn.ReLU(inplace=True)
        self.attn = create_block(block, out_channels, inplace=True)  # its input is this stage's own
        self.pool = HalvingMaxPool()

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.bn(self.conv(x)))
        if not isinstance(self.attn, EndsPerChannel):
            return self.pool(self.attn(x))
        x, rest = self.attn(x, split=True)
        return rest.apply(self.pool(x), inplace=True)  # the pooled map is this stage's own


def _per_stage(name: str, values: Sequence[int] | None, stages: int, default: list[int]) -> list[int]:
    if values is None:
        return default
    if len(values) != stages:
        raise SigattnError(f"{name}: got {len(values)} values for {len(default)} stages")
    return list(values)


class AttnCNN(nn.Module):
    """Stages of conv/BN/ReLU/attention/pool, global pooling and a linear head.

    The first stage has a wide kernel (as WDCNN does for vibration), later ones small
    kernels. `block` names the attention block for every stage, or one per stage;
    `kernel_dropout` drops that fraction of the first stage's kernel weights in training.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 4,
        *,
        block: BlockChoice = "none",
        widths: Sequence[int] = (32, 64, 128, 128),
        kernels: Sequence[int] = (31, 7, 5, 3),
        strides: Sequence[int] | None = (4, 1, 1, 1),
        paddings: Sequence[int] | None = None,
        dropout: float = 0.2,
        head_pooled: int = 1,
        head_hidden: int = 0,
        side_features: int = 0,
        kernel_dropout: float = 0.0,
        name: str = "cnn",
    ) -> None:
        super().__init__()
        self.name = name
        if in_channels < 1 or num_classes < 2:
            raise SigattnError(f"need in_channels >= 1 and num_classes >= 2; got {in_channels}, {num_classes}")
        n = len(widths)
        kernels = _per_stage("kernels", kernels, n, [3] * n)
        strides = _per_stage("strides", strides, n, [1] * n)
        paddings = _per_stage("paddings", paddings, n, [k // 2 for k in kernels])
        self.geometry = list(zip(kernels, strides, paddings, strict=True))
        self.side_features = check_side(side_features)
        channels = [in_channels, *widths]
        self.stages = nn.Sequential(
            *(
                ConvStage(channels[i], channels[i + 1], *self.geometry[i], name, kernel_dropout if i == 0 else 0.0)
                for i, name in enumerate(blocks_per_stage(block, n))
            )
        )
        self.head = Head(
            widths[-1], num_classes, pooled=head_pooled, hidden=head_hidden, dropout=dropout, side=side_features
        )
        self.min_length = smallest_valid_length(self.stage_lengths)

    def stage_lengths(self, length: int) -> list[int]:
        """Length of each stage's attention input (after its conv) and of its output."""
        lengths = []
        for kernel, stride, padding in self.geometry:
            length = conv_length(length, kernel, stride, padding)
            lengths.append(length)
            length = pool_length(length) if length > 0 else 0
        return lengths + [length]

    def attention_geometry(self, length: int) -> list[tuple[np.ndarray, int]]:
        """Per stage's attention block: the input-sample centre of each of its positions, and
        the receptive field of one position (the stage's conv and every conv/pool before it)."""
        field, out = Field(), []
        for (kernel, stride, padding), n in zip(self.geometry, self.stage_lengths(length)[:-1], strict=True):
            field = field.through(kernel, stride, padding)
            out.append((field.centers(n), field.size))
            field = field.through(2, 2)  # MaxPool1d(2, ceil_mode=True)
        return out

    def forward(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        """Logits (N, K) of signal windows `x` (N, C, L) and, for `side_features` > 0, side features (N, F)."""
        check_length(x.shape[-1], self.min_length, self.name)
        return self.head(self.stages(x), side)


def wdcnn(
    in_channels: int = 1,
    num_classes: int = 10,
    *,
    block: BlockChoice = "none",
    dropout: float = 0.0,
    side_features: int = 0,
) -> AttnCNN:
    """WDCNN (Zhang et al., Sensors 2017): a 64-wide, stride-16 first conv, then 3-wide convs.

    Five conv/BN/ReLU/pool stages of 16, 32, 64, 64, 64 filters (the last unpadded), a
    100-unit hidden layer and the classifier; on 2048-sample windows the last pool leaves
    64 x 3 features, exactly as published. Other lengths are pooled to 3 steps.
    """
    return AttnCNN(
        in_channels,
        num_classes,
        block=block,
        widths=(16, 32, 64, 64, 64),
        kernels=(64, 3, 3, 3, 3),
        strides=(16, 1, 1, 1, 1),
        paddings=(24, 1, 1, 1, 0),
        dropout=dropout,
        head_pooled=3,
        head_hidden=100,
        side_features=side_features,
        name="wdcnn",
    )
