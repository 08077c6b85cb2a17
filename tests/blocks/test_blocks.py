import pytest
import torch

from sigattn.blocks import BLOCKS, capture_gates, create_block
from sigattn.blocks.eca import eca_kernel_size
from sigattn.blocks.ops import mean_and_max
from sigattn.errors import SigattnError

GATED = sorted(set(BLOCKS) - {"none"})
SHAPES = [(1, 16, 1), (2, 16, 7), (3, 32, 64), (5, 8, 33)]


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.parametrize("shape", SHAPES)
def test_preserves_shape(name, shape):
    block = create_block(name, shape[1]).eval()
    assert block(torch.randn(shape)).shape == shape


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_runs_in_low_precision(name, dtype):
    block = create_block(name, 16).eval().to(dtype)
    out = block(torch.randn(2, 16, 9, dtype=dtype))
    assert out.dtype == dtype and torch.isfinite(out).all()


@pytest.mark.parametrize("name", GATED)
def test_gates_in_unit_interval_and_grads_reach_every_parameter(name):
    block = create_block(name, 16)
    x = torch.randn(4, 16, 50)
    block(x).square().mean().backward()  # one step first: GC's zero-initialised layer then passes gradients on
    torch.optim.SGD(block.parameters(), lr=0.1).step()
    block.zero_grad()
    with capture_gates(block) as gates:
        block(x).square().mean().backward()
    assert gates and all(((g > 0) & (g < 1)).all() for g in gates.values())
    for pname, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        if pname != "score.bias":  # GC's attention-pooling bias: softmax ignores it, its gradient is zero
            assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("se", {"channel_gate": (4, 16)}),
        ("eca", {"channel_gate": (4, 16)}),
        ("cbam", {"channel_gate": (4, 16), "temporal_gate": (4, 50)}),
        ("gc", {"temporal_gate": (4, 50)}),
        ("ca", {"channel_gate": (4, 16), "temporal_gate": (4, 50)}),
        ("none", {}),
    ],
)
def test_capture_gives_documented_shapes(name, expected):
    block = create_block(name, 16).eval()
    with capture_gates(block) as gates:
        block(torch.randn(4, 16, 50))
    assert {k: tuple(v.shape) for k, v in gates.items()} == expected


def test_capture_leaves_outputs_identical_and_removes_hooks():
    block = create_block("cbam", 16).eval()
    x = torch.randn(2, 16, 20)
    plain = block(x)
    with capture_gates(block):
        captured = block(x)
    assert torch.equal(plain, captured)
    assert all(not m._forward_hooks for m in block.modules())


def test_gc_softmax_sums_to_one_over_time_and_mul_gate_is_captured():
    block = create_block("gc", 16, fusions=("channel_add", "channel_mul")).eval()
    raw = {}
    block.temporal_gate.register_forward_hook(lambda m, a, out: raw.setdefault("w", out))
    with capture_gates(block) as gates:
        block(torch.randn(3, 16, 40))
    torch.testing.assert_close(raw["w"].sum(dim=-1), torch.ones(3, 1))
    assert gates["channel_gate"].shape == (3, 16)


def test_gc_starts_as_the_identity_and_learns_to_add_context():
    block = create_block("gc", 16)
    x = torch.randn(2, 16, 30)
    assert torch.equal(block(x), x)  # GCNet: the last transform layer starts at zero
    (block(x) - 1).square().mean().backward()
    assert block.add[-1].weight.grad.abs().sum() > 0


def test_gc_avg_pooling_has_no_temporal_map():
    block = create_block("gc", 16, pooling="avg").eval()
    with capture_gates(block) as gates:
        out = block(torch.randn(2, 16, 10))
    assert out.shape == (2, 16, 10) and gates == {}


def test_eca_kernel_rule():
    assert eca_kernel_size(64) == 3
    assert eca_kernel_size(256) == 5
    assert create_block("eca", 256).conv.kernel_size == (5,)


@pytest.mark.parametrize(("channels", "kernel"), [(8, 3), (64, 3), (256, 5), (4, 7)])
def test_eca_mixes_channels_as_its_convolution_and_saves_only_its_weights(channels, kernel):
    block = create_block("eca", channels, kernel_size=kernel)
    y = torch.randn(6, channels, dtype=torch.float64)
    block.double()
    torch.testing.assert_close(block.across_channels(y), block.conv(y.unsqueeze(1)).squeeze(1))
    assert list(block.state_dict()) == ["conv.weight"]  # the banded matrix is made, not stored: old checkpoints load


def test_se_and_cbam_keep_reduction_floor():
    assert create_block("se", 256).fc1.out_features == 16
    assert create_block("se", 32).fc1.out_features == 8
    assert create_block("cbam", 64, reduction=4).mlp[0].out_features == 16


def test_ca_uses_paper_reduction_rule():
    assert create_block("ca", 512).shared[0].out_channels == 16
    assert create_block("ca", 64).shared[0].out_channels == 8


def test_cbam_temporal_gate_is_sigmoid_not_softmax():
    block = create_block("cbam", 8).eval()
    with capture_gates(block) as gates:
        block(torch.randn(2, 8, 30))
    assert not torch.allclose(gates["temporal_gate"].sum(-1), torch.ones(2))


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_deterministic_in_eval(name):
    torch.manual_seed(0)
    block = create_block(name, 16).eval()
    x = torch.randn(2, 16, 25)
    torch.testing.assert_close(block(x), block(x), rtol=0, atol=0)


def test_unknown_name_lists_the_choices():
    with pytest.raises(SigattnError, match="unknown block 'nope'; expected one of: ca, cbam, eca, gc, none, se"):
        create_block("nope", 16)


def test_bad_option_is_a_clear_error():
    with pytest.raises(SigattnError, match="block 'se'"):
        create_block("se", 16, ratio=3)


@pytest.mark.parametrize("dim", [1, -1])
def test_mean_and_max_share_a_tied_max_gradient_as_amax_does(dim):
    x = torch.tensor([[[1.0, 3.0, 3.0], [0.0, 0.0, 0.0]], [[2.0, -1.0, 2.0], [2.0, 5.0, 2.0]]], requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    reduced = list(x.shape)
    reduced[dim] = 1
    grad_mean, grad_max = torch.randn(2, *reduced).unbind(0)
    mean, top = mean_and_max(x, dim)
    torch.autograd.backward([mean, top], [grad_mean, grad_max])
    torch.autograd.backward([x_ref.mean(dim, keepdim=True), x_ref.amax(dim, keepdim=True)], [grad_mean, grad_max])
    torch.testing.assert_close(mean, x_ref.mean(dim, keepdim=True))
    torch.testing.assert_close(top, x_ref.amax(dim, keepdim=True))
    torch.testing.assert_close(x.grad, x_ref.grad)
