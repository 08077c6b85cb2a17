"""The backbones' MaxPool1d(2, ceil_mode=True), with a training step that does not pay for indices.

On CPU, autograd's max pooling runs `max_pool2d_with_indices`, whose forward takes 10-20 times as
long as the pooling alone; it was the largest single cost of a `cnn` training step. Here the
forward pools without indices and the backward finds, for each pair, which element held the max,
giving it the whole gradient as `max_pool1d` does (the first of a tied pair). Outputs and
gradients are identical to `nn.MaxPool1d(2, ceil_mode=True)`. A bf16 or fp16 map (under autocast)
is pooled in fp32 and cast back: exact, since a max and a gradient routed to one of two places
are values of the input's own type, and on CPU several times faster than the same steps in bf16
over the pairs' strided halves.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def _wide(t: Tensor) -> Tensor:
    """`t` in fp32 if it is bf16 or fp16, else as it is."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


class _PairMax(torch.autograd.Function):
    """The max of each pair of neighbours along the last axis, of an even-length input."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return F.max_pool1d(_wide(x), 2).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        dtype, x, grad = grad.dtype, _wide(x), _wide(grad)
        first, second = x.unflatten(-1, (-1, 2)).unbind(-1)
        to_first_share = (first - second).sign_().add_(1).clamp_(max=1)  # 1 where first >= second, else 0
        out = torch.empty(x.shape, dtype=grad.dtype, device=grad.device)
        to_first, to_second = out.unflatten(-1, (-1, 2)).unbind(-1)
        torch.mul(grad, to_first_share, out=to_first)
        torch.sub(grad, to_first, out=to_second)
        return out.to(dtype)


class HalvingMaxPool(nn.MaxPool1d):
    """`nn.MaxPool1d(2, ceil_mode=True)` whose CPU training step skips the pooling indices."""

    def __init__(self) -> None:
        super().__init__(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        if (
            x.device.type == "cpu"
            and x.shape[-1] % 2 == 0
            and torch.is_grad_enabled()
            and x.requires_grad
            and not torch.compiler.is_compiling()  # the compiler fuses the plain pooling itself
        ):
            return _PairMax.apply(x)
        return super().forward(x)
