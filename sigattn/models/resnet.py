"""A ResNet-style 1D backbone with attention on each residual branch (as SE-ResNet does)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor, nn

from sigattn.blocks import create_block
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


class BasicBlock1d(nn.Module):
    """conv3/BN/ReLU/conv3/BN, then attention on that branch, plus the shortcut, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, block: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.attn = create_block(block, out_channels, inplace=True)  # its input is the branch's own output
        self.act = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm1d(out_channels)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        branch = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(self.attn(branch) + self.shortcut(x))


class AttnResNet1d(nn.Module):
    """Wide-kernel stem, then stages of basic blocks (the first of each later stage strides 2)."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 4,
        *,
        block: BlockChoice = "none",
        widths: Sequence[int] = (32, 64, 128, 128),
        depth: int = 1,
        stem_kernel: int = 15,
        stem_stride: int = 2,
        dropout: float = 0.2,
        side_features: int = 0,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or depth < 1:
            raise SigattnError(
                f"need in_channels >= 1, num_classes >= 2, depth >= 1; got {in_channels}, {num_classes}, {depth}"
            )
        self.side_features = check_side(side_features)
        self.stem_geometry = (stem_kernel, stem_stride, stem_kernel // 2)
        self.stem = nn.Sequential(
            nn.Conv1d(
                in_channels,
                widths[0],
                stem_kernel,
                stride=stem_stride,
                padding=stem_kernel // 2,
                bias=False,
            ),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(inplace=True),
            HalvingMaxPool(),
        )
        names = blocks_per_stage(block, len(widths))
        stages, channels = [], widths[0]
        for i, (width, name) in enumerate(zip(widths, names, strict=True)):
            units = [BasicBlock1d(channels, width, 1 if i == 0 else 2, name)]
            units += [BasicBlock1d(width, width, 1, name) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*units))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.head = Head(channels, num_classes, dropout=dropout, side=side_features)
        self.min_length = smallest_valid_length(self.stage_lengths)

    def stage_lengths(self, length: int) -> list[int]:
        """Length after the stem, then after each stage."""
        length = pool_length(conv_length(length, *self.stem_geometry))
        lengths = [length]
        for i in range(len(self.stages)):
            if i > 0:
                length = conv_length(length, 3, 2, 1)
            lengths.append(length)
        return lengths

    def attention_geometry(self, length: int) -> list[tuple[np.ndarray, int]]:
        """Per basic block's attention, in network order: the input-sample centre of each of its
        positions, and the receptive field of one position. The attention sees the residual branch
        after conv1 (which strides) and conv2; a block's 1x1 shortcut is centred on the same
        samples and sees fewer, so the branch bounds the field of the block's output."""
        field = Field().through(*self.stem_geometry).through(2, 2)  # stem conv, MaxPool1d(2, ceil_mode=True)
        n, out = self.stage_lengths(length)[0], []
        for stage in self.stages:
            for unit in stage:
                for conv in (unit.conv1, unit.conv2):
                    geometry = (conv.kernel_size[0], conv.stride[0], int(conv.padding[0]))
                    n, field = conv_length(n, *geometry), field.through(*geometry)
                out.append((field.centers(n), field.size))
        return out

    def forward(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        """Logits (N, K) of signal windows `x` (N, C, L) and, for `side_features` > 0, side features (N, F)."""
        check_length(x.shape[-1], self.min_length, "resnet")
        return self.head(self.stages(self.stem(x)), side)
