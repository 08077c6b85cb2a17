"""Coordinate Attention (Hou et al., CVPR 2021) adapted to one temporal axis.

In 2D, CA pools along width and along height separately, giving two direction-aware
descriptors that keep position along one axis each. They are concatenated, pass one
shared 1x1 conv + BN + h-swish, are split again, and each produces a sigmoid gate
(one per direction) that multiplies the input.

A signal has only one positional axis, so the 1D analogue pairs:
- a position-preserving descriptor along time: the (N, C, L) map itself (pooling over the
  missing second axis is the identity), which keeps *where* in time each channel fires;
- a global descriptor over time: the (N, C, 1) average, which keeps *which* channels fire.
Both are concatenated along time to (N, C, L + 1) and share the transform
Conv1x1(C -> mip) + BN + h-swish, exactly as the paper shares it between directions; the
result is split back into a temporal part (N, mip, L) and a global part (N, mip, 1), and
two 1x1 convs with sigmoids give a per-channel temporal gate (N, C, L) and a channel gate
(N, C, 1). The output is x * temporal_gate * channel_gate. Sharing the transform lets each
position's gate be judged against the channel context, which is CA's point; the paper's
reduction rule mip = max(8, C // groups) is kept (groups=32 by default).

The forward never builds the (N, C, L + 1) concatenation: the shared 1x1 conv is linear, so its
output on the global average is the time-average of its output on the map, and only the thin
(N, mip, L + 1) result is concatenated before BN, which therefore sees exactly the values, and in
training the batch statistics, of the paper's form.
"""

import torch
from torch import Tensor, nn

from sigattn.blocks.gate import Gate
from sigattn.blocks.ops import EndsPerChannel, PerChannel, pointwise, pointwise_wide, scale
from sigattn.blocks.registry import register


@register("ca")
class CoordinateAttention(EndsPerChannel):
    """`inplace=True` lets the block write its output into its input when autograd is off."""

    def __init__(self, channels: int, *, groups: int = 32, inplace: bool = False) -> None:
        super().__init__()
        if groups < 1:
            raise ValueError(f"groups must be >= 1; got {groups}")
        mip = max(8, channels // groups)
        self.shared = nn.Sequential(nn.Conv1d(channels, mip, 1), nn.BatchNorm1d(mip), nn.Hardswish())
        self.to_temporal = nn.Conv1d(mip, channels, 1)
        self.to_channel = nn.Conv1d(mip, channels, 1)
        self.temporal_gate = Gate("sigmoid", "temporal", inplace=True)  # over the scores it alone reads
        self.channel_gate = Gate("sigmoid", "channel")
        self.inplace = inplace

    def _split(self, x: Tensor) -> tuple[Tensor, PerChannel]:
        """`x` times the temporal gate, and the channel gate still to multiply it by (see `PerChannel`)."""
        conv, bn, act = self.shared
        y = pointwise(conv, x)  # (N, mip, L)
        y = act(bn(torch.cat([y, y.mean(dim=-1, keepdim=True)], dim=-1)))  # = shared(cat([x, mean x]))
        along_time, overall = y[..., :-1], y[..., -1:]
        out = scale(x, self.temporal_gate(pointwise_wide(self.to_temporal, along_time)), inplace=self.inplace)
        return out, PerChannel(self.channel_gate(pointwise(self.to_channel, overall)))
