"""Convolutional Block Attention Module (Woo et al., ECCV 2018) for (N, C, L) signals.

Channel attention: average- and max-pooled descriptors through one shared MLP, summed,
sigmoid. Then temporal (the paper's "spatial") attention: channel-wise mean and max,
concatenated, Conv1d(2 -> 1, k=7, same padding), sigmoid. Gates: channel (N, C, 1), then
temporal (N, 1, L).
"""

import torch
from torch import Tensor, nn

from sigattn.blocks.gate import Gate
from sigattn.blocks.ops import mean_and_max, scale
from sigattn.blocks.registry import register
from sigattn.blocks.se import reduced


@register("cbam")
class CBAM(nn.Module):
    """`inplace=True` lets the block write its output into its input when autograd is off."""

    def __init__(
        self, channels: int, *, reduction: int = 16, min_hidden: int = 8, kernel_size: int = 7, inplace: bool = False
    ):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd; got {kernel_size}")
        hidden = reduced(channels, reduction, min_hidden)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
        )
        self.channel_gate = Gate("sigmoid", "channel")
        self.conv = nn.Conv1d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.temporal_gate = Gate("sigmoid", "temporal")
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        pooled = self.mlp(torch.stack(mean_and_max(x, -1)).squeeze(-1))  # both descriptors in one pass of the MLP
        x = scale(x, self.channel_gate((pooled[0] + pooled[1]).unsqueeze(-1)), inplace=self.inplace)
        descriptor = torch.cat(mean_and_max(x, 1), dim=1)
        return scale(x, self.temporal_gate(self.conv(descriptor)), inplace=True)  # x is now the block's own
