"""Each block's forward against the plain formulas it replaced: same outputs, gates and gradients."""

import copy

import pytest
import torch
from torch.nn import functional as F

from sigattn.blocks import capture_gates, create_block


def se(b, x):
    w = torch.sigmoid(b.fc2(F.relu(b.fc1(x.mean(dim=-1)))).unsqueeze(-1))
    return x * w, {"channel_gate": w.flatten(1)}


def eca(b, x):
    y = F.adaptive_avg_pool1d(x, 1).transpose(-1, -2)
    w = torch.sigmoid(b.conv(y).transpose(-1, -2))
    return x * w, {"channel_gate": w.flatten(1)}


def cbam(b, x):
    cw = torch.sigmoid((b.mlp(x.mean(dim=-1)) + b.mlp(x.amax(dim=-1))).unsqueeze(-1))
    x = x * cw
    tw = torch.sigmoid(b.conv(torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)))
    return x * tw, {"channel_gate": cw.flatten(1), "temporal_gate": tw.mean(dim=1)}


def gc(b, x):
    gates = {}
    if b.pooling == "avg":
        context = x.mean(dim=-1)
    else:
        w = torch.softmax(b.score(x), dim=-1)
        gates["temporal_gate"] = w.mean(dim=1)
        context = (x @ w.transpose(-1, -2)).squeeze(-1)
    out = x
    if b.mul is not None:
        cw = torch.sigmoid(b.mul(context).unsqueeze(-1))
        gates["channel_gate"] = cw.flatten(1)
        out = out * cw
    if b.add is not None:
        out = out + b.add(context).unsqueeze(-1)
    return out, gates


def ca(b, x):
    length = x.shape[-1]
    y = b.shared(torch.cat([x, x.mean(dim=-1, keepdim=True)], dim=-1))
    tw = torch.sigmoid(b.to_temporal(y[..., :length]))
    cw = torch.sigmoid(b.to_channel(y[..., length:]))
    return x * tw * cw, {"channel_gate": cw.flatten(1), "temporal_gate": tw.mean(dim=1)}


CASES = [
    ("se", {}, se),
    ("eca", {}, eca),
    ("cbam", {}, cbam),
    ("gc", {}, gc),
    ("gc", {"fusions": ("channel_add", "channel_mul")}, gc),
    ("gc", {"pooling": "avg", "fusions": ("channel_mul",)}, gc),
    ("ca", {}, ca),
]


def _close_grads(grads, expected, names):
    """Gradients agree up to float error relative to the largest of them: softmax makes some exactly
    zero in theory (and BN over two values per channel nearly so), which leaves rounding noise."""
    atol = 1e-5 * max(1.0, *(g.abs().max().item() for g in expected))
    for grad, want, name in zip(grads, expected, names, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=atol, msg=name)


def _blocks(name, options, channels):
    torch.manual_seed(0)
    block = create_block(name, channels, **options)
    with torch.no_grad():  # move every parameter (and GC's zero-started layer) off its initial value
        for p in block.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return block, copy.deepcopy(block)


@pytest.mark.parametrize(("name", "options", "reference"), CASES)
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(4, 16, 50), (3, 64, 7), (2, 32, 1)])
def test_matches_reference_forward_and_gradients(name, options, reference, train, shape):
    block, ref = _blocks(name, options, shape[1])
    block.train(train), ref.train(train)
    x = torch.randn(shape, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    grad = torch.randn(shape)
    with capture_gates(block) as gates:
        out = block(x)
    expected, expected_gates = reference(ref, x_ref)
    torch.testing.assert_close(out, expected)
    assert gates.keys() == expected_gates.keys()
    for key, value in expected_gates.items():
        torch.testing.assert_close(gates[key], value.detach())
    out.backward(grad), expected.backward(grad)
    names = ["x", *(name for name, _ in block.named_parameters())]
    grads = [x.grad, *(p.grad for p in block.parameters())]
    _close_grads(grads, [x_ref.grad, *(p.grad for p in ref.parameters())], names)
    for (bname, b), b_ref in zip(block.named_buffers(), ref.buffers(), strict=True):
        torch.testing.assert_close(b, b_ref, msg=bname)  # BN running statistics in training


@pytest.mark.parametrize(("name", "options", "reference"), CASES)
@pytest.mark.parametrize("grad", [True, False])
def test_inplace_matches_reference_and_touches_input_only_without_autograd(name, options, reference, grad):
    block, ref = _blocks(name, {**options, "inplace": True}, 16)
    block.eval(), ref.eval()
    x = torch.randn(3, 16, 40)
    expected, expected_gates = reference(ref, x)
    given = x.clone()
    with torch.set_grad_enabled(grad), capture_gates(block) as gates:
        out = block(given)
    torch.testing.assert_close(out, expected)
    for key, value in expected_gates.items():
        torch.testing.assert_close(gates[key], value.detach())
    assert (out.data_ptr() == given.data_ptr()) != grad
    assert grad == torch.equal(given, x)
