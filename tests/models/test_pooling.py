"""The backbones' pooling gives exactly what nn.MaxPool1d(2, ceil_mode=True) gives, faster to train."""

import pytest
import torch
from torch import nn

from sigattn.models import create_model
from sigattn.models.pooling import HalvingMaxPool


def with_ties(shape: tuple[int, ...]) -> torch.Tensor:
    """ReLU-like values: many zeros, and pairs whose two elements are equal."""
    torch.manual_seed(0)
    x = torch.randn(shape).relu()
    x[..., 2::4] = x[..., 3::4]
    return x


@pytest.mark.parametrize("length", [64, 65, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_outputs_and_gradients_equal_max_pool(length, dtype):
    x = with_ties((3, 5, length)).to(dtype).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    out, expected = HalvingMaxPool()(x), nn.MaxPool1d(2, ceil_mode=True)(x_ref)
    grad = torch.randn(out.shape, dtype=dtype)
    out.backward(grad), expected.backward(grad)
    assert torch.equal(out, expected)
    assert torch.equal(x.grad, x_ref.grad)  # a tied pair's gradient goes to its first element, as max_pool1d's
    assert out.dtype == x.grad.dtype == dtype  # bf16 and fp16 are pooled in fp32 and come back in their own type


def test_training_on_cpu_skips_the_pooling_indices():
    x = torch.randn(2, 3, 8, requires_grad=True)
    assert "PairMax" in type(HalvingMaxPool()(x).grad_fn).__name__
    with torch.no_grad():
        assert torch.equal(HalvingMaxPool()(x), nn.MaxPool1d(2, ceil_mode=True)(x))


@pytest.mark.parametrize("backbone", ["cnn", "resnet", "wdcnn"])
def test_every_backbone_pools_this_way(backbone):
    pools = [m for m in create_model(backbone, 1, 3).modules() if isinstance(m, nn.MaxPool1d)]
    assert pools and all(isinstance(m, HalvingMaxPool) for m in pools)
