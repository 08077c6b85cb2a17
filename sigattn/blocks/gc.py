"""Global Context block (Cao et al., ICCVW 2019 / TPAMI 2020) for (N, C, L) signals.

Attention pooling (Conv1d(C -> 1, k=1) + softmax over time) gives one context vector per
example; a bottleneck transform Conv1x1(C -> C*ratio) -> LayerNorm -> ReLU -> Conv1x1
back to C turns it into a per-channel term fused by `channel_add` (default) and/or
`channel_mul` (sigmoid). `pooling="avg"` replaces attention pooling by a plain mean.
Gates: temporal softmax (N, 1, L) with attention pooling; channel (N, C, 1) with channel_mul.
As in GCNet, the last layer of the `channel_add` transform starts at zero, so the block starts as
the identity and the network learns how much context to add.
"""

from collections.abc import Sequence

from torch import Tensor, nn

from sigattn.blocks.gate import Gate
from sigattn.blocks.ops import EndsPerChannel, PerChannel, pointwise, time_mean
from sigattn.blocks.registry import register

FUSIONS = ("channel_add", "channel_mul")


def _transform(channels: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(channels, hidden),  # Conv1x1 on a 1-step context is a linear layer
        nn.LayerNorm(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, channels),
    )


@register("gc")
class GlobalContext(EndsPerChannel):
    """`inplace=True` lets the block write its output into its input when autograd is off."""

    def __init__(
        self,
        channels: int,
        *,
        ratio: float = 1 / 16,
        min_hidden: int = 8,
        pooling: str = "att",
        fusions: Sequence[str] = ("channel_add",),
        inplace: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in ("att", "avg"):
            raise ValueError(f"pooling must be 'att' or 'avg'; got {pooling!r}")
        unknown = set(fusions) - set(FUSIONS)
        if not fusions or unknown:
            raise ValueError(f"fusions must be a non-empty subset of {FUSIONS}; got {tuple(fusions)}")
        hidden = max(int(channels * ratio), min_hidden)
        self.pooling = pooling
        self.inplace = inplace
        if pooling == "att":
            self.score = nn.Conv1d(channels, 1, 1)
            self.temporal_gate = Gate("softmax", "temporal")
        self.add = _transform(channels, hidden) if "channel_add" in fusions else None
        if self.add is not None:
            nn.init.zeros_(self.add[-1].weight)
            nn.init.zeros_(self.add[-1].bias)
        if "channel_mul" in fusions:
            self.mul = _transform(channels, hidden)
            self.channel_gate = Gate("sigmoid", "channel")
        else:
            self.mul = None

    def context(self, x: Tensor) -> Tensor:
        """The (N, C) global context vector."""
        if self.pooling == "avg":
            return time_mean(x)
        # A matmul, several times faster than the 1x1 conv on CPU. The score's bias shifts every
        # time step alike, which softmax ignores: its gradient is zero (up to rounding).
        scores = pointwise(self.score, x)
        weights = self.temporal_gate(scores)  # (N, 1, L), sums to 1 over time
        return (x @ weights.transpose(-1, -2)).squeeze(-1)  # (N, C, L) @ (N, L, 1)

    def _split(self, x: Tensor) -> tuple[Tensor, PerChannel]:
        """`x` and the per-channel gate and context term still to apply to it (see `PerChannel`)."""
        context = self.context(x)
        gate = None if self.mul is None else self.channel_gate(self.mul(context).unsqueeze(-1))
        return x, PerChannel(gate, None if self.add is None else self.add(context).unsqueeze(-1))
