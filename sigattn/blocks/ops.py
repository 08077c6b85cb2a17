"""Cheap tensor steps the blocks share: 1x1 convs as matmuls, gating without copies, and per-channel
steps a backbone can apply after pooling.

On CPU a 1x1 Conv1d goes through oneDNN and reorders its input, several times slower than the
same product as a matmul. And at large batches a fresh (N, C, L) output costs more (page faults)
than the arithmetic that fills it, so without autograd a gate is written into a tensor the block
may overwrite.
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn


def _batched(weight: Tensor, x: Tensor) -> Tensor:
    """(C_out, C_in) @ (N, C_in, L) as one bmm; `torch.matmul` may copy x transposed to fold the batch."""
    return torch.bmm(weight.expand(x.shape[0], -1, -1), x)


def pointwise(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """`conv(x)` for a 1x1, stride-1, ungrouped Conv1d, as a matmul: (N, C_in, L) -> (N, C_out, L)."""
    out = _batched(conv.weight.squeeze(-1), x)
    return out if conv.bias is None else out + conv.bias.unsqueeze(-1)


def pointwise_wide(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """`pointwise` for a conv that widens a thin input: its bias rides in the matmul as a row of
    ones, so the wide output is written once."""
    if conv.bias is None:
        return _batched(conv.weight.squeeze(-1), x)
    weight = torch.cat([conv.weight.squeeze(-1), conv.bias.unsqueeze(-1)], dim=1)
    return _batched(weight, torch.cat([x, x.new_ones(x.shape[0], 1, x.shape[-1])], dim=1))


def time_mean(x: Tensor) -> Tensor:
    """`x.mean(dim=-1)`, (N, C, L) -> (N, C), as a sum and a division of the small result: the sum's
    backward broadcasts the gradient without writing it out, where the mean's divides it full-size."""
    return x.sum(dim=-1) / x.shape[-1]


class _MeanAndMax(torch.autograd.Function):
    """Mean and max over one dim in one autograd node, with a backward of a few float passes where
    `amax`'s makes a boolean mask, copies it to float, counts ties and divides (the boolean steps
    are several times slower than float ones on CPU). Ties share the max's gradient, as with `amax`."""

    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
        values = x.amax(dim, keepdim=True)
        ctx.save_for_backward(x, values)
        ctx.dim = dim
        return x.mean(dim, keepdim=True), values

    @staticmethod
    def backward(ctx, grad_mean: Tensor, grad_max: Tensor) -> tuple[Tensor, None]:
        x, values = ctx.saved_tensors
        at_max = (x - values).sign_().add_(1)  # x <= its max: 1 where equal, else 0
        share = grad_mean / x.shape[ctx.dim]
        return torch.addcmul(share, at_max, grad_max / at_max.sum(ctx.dim, keepdim=True)), None


def mean_and_max(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """`x.mean(dim, keepdim=True)` and `x.amax(dim, keepdim=True)`, with a cheap backward."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _MeanAndMax.apply(x, dim)
    return x.mean(dim, keepdim=True), x.amax(dim, keepdim=True)


def may_overwrite(inplace: bool) -> bool:
    """Whether a block may write into a tensor it was allowed to: only when autograd records nothing,
    so no backward pass can need the old values."""
    return inplace and not torch.is_grad_enabled()


def scale(x: Tensor, weights: Tensor, *, inplace: bool) -> Tensor:
    """`x * weights`, written into `x` when `inplace` and autograd is off."""
    return x.mul_(weights) if may_overwrite(inplace) else x * weights


def shift(x: Tensor, offset: Tensor, *, inplace: bool) -> Tensor:
    """`x + offset`, written into `x` when `inplace` and autograd is off."""
    return x.add_(offset) if may_overwrite(inplace) else x + offset


class PerChannel(NamedTuple):
    """The per-channel end of a block's forward: `x * scale + offset`, each (N, C, 1) or None.

    `scale` is a sigmoid gate (>= 0), so both steps are monotone in x within a channel and commute
    with max pooling: a backbone may pool first and apply them to the shorter map
    (`pool(x * s + o) == pool(x) * s + o`, exactly in floating point). Blocks that end this way are
    `EndsPerChannel`.
    """

    scale: Tensor | None = None
    offset: Tensor | None = None

    def apply(self, x: Tensor, *, inplace: bool) -> Tensor:
        """`x * scale + offset`; the first step writes into `x` only if `inplace` (and autograd is off)."""
        if self.scale is not None:
            x, inplace = scale(x, self.scale, inplace=inplace), True
        if self.offset is not None:
            x = shift(x, self.offset, inplace=inplace)
        return x


class EndsPerChannel(nn.Module):
    """A block whose forward ends in per-channel steps: `_split(x)` gives the map before them and the
    steps, and `block(x, split=True)` returns both so a backbone can pool in between."""

    inplace: bool

    def _split(self, x: Tensor) -> tuple[Tensor, PerChannel]:
        raise NotImplementedError

    def forward(self, x: Tensor, *, split: bool = False) -> Tensor | tuple[Tensor, PerChannel]:
        out, rest = self._split(x)
        if split:
            return out, rest
        return rest.apply(out, inplace=self.inplace or out is not x)  # a fresh map is the block's own
