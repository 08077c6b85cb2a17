"""Efficient Channel Attention (Wang et al., CVPR 2020) for (N, C, L) signals.

Global average pool over time, then a 1-D convolution across the channel axis with the
adaptive odd kernel k = |log2(C)/gamma + b/gamma|_odd, no dimensionality reduction,
sigmoid. Gate: channel (N, C, 1).

The convolution across channels runs as a matmul with a banded (C, C) matrix made from its k
weights: the same sums, where a Conv1d over (N, 1, C) costs several times more on CPU (oneDNN's
setup for a one-channel convolution, forward and both gradients, outweighs its arithmetic).
"""

import math

import torch
from torch import Tensor, nn

from sigattn.blocks.gate import Gate
from sigattn.blocks.ops import EndsPerChannel, PerChannel, time_mean
from sigattn.blocks.registry import register


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """The paper's adaptive kernel: the odd number nearest above |(log2 C + b) / gamma|."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


def channel_taps(channels: int, kernel_size: int) -> Tensor:
    """(k, C, C) of 0 and 1: `[j, i, o]` is 1 where tap j of a same-padded convolution across channels
    carries input channel i to output channel o (i = o + j - k // 2)."""
    c = torch.arange(channels)
    taps = c[:, None] - c[None, :] + kernel_size // 2
    return (torch.arange(kernel_size)[:, None, None] == taps).float()


@register("eca")
class EfficientChannelAttention(EndsPerChannel):
    """`inplace=True` lets the block write its output into its input when autograd is off."""

    def __init__(
        self,
        channels: int,
        *,
        gamma: float = 2.0,
        b: float = 1.0,
        kernel_size: int | None = None,
        inplace: bool = False,
    ) -> None:
        super().__init__()
        k = kernel_size or eca_kernel_size(channels, gamma, b)
        if k % 2 == 0:
            raise ValueError(f"kernel_size must be odd; got {k}")
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)  # holds the weights; see `across_channels`
        self.register_buffer("taps", channel_taps(channels, k).flatten(1), persistent=False)  # (k, C * C)
        self.channel_gate = Gate("sigmoid", "channel")
        self.inplace = inplace

    def across_channels(self, y: Tensor) -> Tensor:
        """`self.conv` over the channel axis of (N, C) descriptors, as (N, C) @ its banded (C, C) matrix."""
        channels = y.shape[-1]
        band = (self.conv.weight.view(1, -1) @ self.taps).view(channels, channels)
        return y @ band

    def _split(self, x: Tensor) -> tuple[Tensor, PerChannel]:
        """`x` and the channel gate still to multiply it by (see `PerChannel`)."""
        return x, PerChannel(self.channel_gate(self.across_channels(time_mean(x)).unsqueeze(-1)))
