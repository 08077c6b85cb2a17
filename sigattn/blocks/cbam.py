"""Convolutional Block Attention Module (Woo et al., ECCV 2018) for (N, C, L) signals.

Channel attention: average- and max-pooled descriptors through one shared MLP, summed,
sigmoid. Then temporal (the paper's "spatial") attention: channel-wise mean and max,
concatenated, Conv1d(2 -> 1, k=7, same padding), sigmoid. Gates: channel (N, C, 1), then
temporal (N, 1, L).
"""

import torch
from torch import Tensor, nn

from sigattn.blocks.gate import Gate
from sigattn.blocks.registry import register
from sigattn.blocks.se import reduced


@register("cbam")
class CBAM(nn.Module):
    def __init__(self, channels: int, *, reduction: int = 16, min_hidden: int = 8, kernel_size: int = 7):
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

    def forward(self, x: Tensor) -> Tensor:
        avg = self.mlp(x.mean(dim=-1))
        peak = self.mlp(x.amax(dim=-1))
        x = x * self.channel_gate((avg + peak).unsqueeze(-1))
        descriptor = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.temporal_gate(self.conv(descriptor))
