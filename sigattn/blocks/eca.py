"""Efficient Channel Attention (Wang et al., CVPR 2020) for (N, C, L) signals.

Global average pool over time, then a 1-D convolution across the channel axis with the
adaptive odd kernel k = |log2(C)/gamma + b/gamma|_odd, no dimensionality reduction,
sigmoid. Gate: channel (N, C, 1).
"""

import math

from torch import Tensor, nn

from sigattn.blocks.gate import Gate
from sigattn.blocks.ops import EndsPerChannel, PerChannel, time_mean
from sigattn.blocks.registry import register


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """The paper's adaptive kernel: the odd number nearest above |(log2 C + b) / gamma|."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


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
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.channel_gate = Gate("sigmoid", "channel")
        self.inplace = inplace

    def _split(self, x: Tensor) -> tuple[Tensor, PerChannel]:
        """`x` and the channel gate still to multiply it by (see `PerChannel`)."""
        y = time_mean(x).unsqueeze(1)  # (N, 1, C): channels become the conv's axis
        return x, PerChannel(self.channel_gate(self.conv(y).transpose(-1, -2)))
