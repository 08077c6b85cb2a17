"""Squeeze-and-Excitation (Hu et al., CVPR 2018) for (N, C, L) signals.

Global average pool over time, FC(C -> C/r) -> ReLU -> FC(C/r -> C) -> sigmoid, and the
input is rescaled per channel. Gate: channel (N, C, 1).
"""

from torch import Tensor, nn

from sigattn.blocks.gate import Gate
from sigattn.blocks.ops import EndsPerChannel, PerChannel, time_mean
from sigattn.blocks.registry import register


def reduced(channels: int, reduction: int, min_hidden: int) -> int:
    """The bottleneck width C // r, but never below `min_hidden`."""
    if reduction < 1:
        raise ValueError(f"reduction must be >= 1; got {reduction}")
    return max(channels // reduction, min_hidden)


@register("se")
class SqueezeExcite(EndsPerChannel):
    """`inplace=True` lets the block write its output into its input when autograd is off."""

    def __init__(self, channels: int, *, reduction: int = 16, min_hidden: int = 8, inplace: bool = False) -> None:
        super().__init__()
        hidden = reduced(channels, reduction, min_hidden)
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        self.channel_gate = Gate("sigmoid", "channel")
        self.inplace = inplace

    def _split(self, x: Tensor) -> tuple[Tensor, PerChannel]:
        """`x` and the channel gate still to multiply it by (see `PerChannel`)."""
        squeezed = time_mean(x)  # (N, C)
        return x, PerChannel(self.channel_gate(self.fc2(self.act(self.fc1(squeezed))).unsqueeze(-1)))
