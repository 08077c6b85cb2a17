import copy
import io
import warnings

import pytest
import torch
from torch.ops import aten
from torch.utils._python_dispatch import TorchDispatchMode

from sigattn.blocks import BLOCKS, capture_gates
from sigattn.errors import SigattnError
from sigattn.models import BACKBONES, create_model
from sigattn.models.cnn import ConvStage
from sigattn.models.layers import Head

COMBOS = [(b, k) for b in sorted(BACKBONES) for k in sorted(BLOCKS)]


def build(backbone: str, block: str, channels: int = 2, classes: int = 5):
    torch.manual_seed(0)
    return create_model(backbone, channels, classes, block=block)


@pytest.mark.parametrize(("backbone", "block"), COMBOS)
def test_output_shape_for_many_lengths(backbone, block):
    model = build(backbone, block).eval()
    for n, length in [(1, model.min_length), (3, model.min_length + 1), (2, 777), (4, 2048)]:
        assert model(torch.randn(n, 2, length)).shape == (n, 5)


@pytest.mark.parametrize("backbone", ["cnn", "resnet"])
def test_accepts_a_single_sample(backbone):
    model = build(backbone, "cbam").eval()
    assert model.min_length == 1
    assert model(torch.randn(2, 2, 1)).shape == (2, 5)


def test_too_short_input_names_the_minimum():
    model = build("wdcnn", "se").eval()
    with pytest.raises(SigattnError, match=f"at least {model.min_length} samples; got 100"):
        model(torch.randn(1, 2, 100))


@pytest.mark.parametrize(("backbone", "block"), COMBOS)
def test_gradients_reach_every_parameter(backbone, block):
    model = build(backbone, block).train()
    model(torch.randn(4, 2, 1024)).logsumexp(dim=1).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize(("backbone", "block"), COMBOS)
def test_eval_deterministic_and_state_dict_round_trip(backbone, block):
    model = build(backbone, block)
    model.train()
    model(torch.randn(8, 2, 1024))  # move BN statistics away from their initial values
    model.eval()
    x = torch.randn(3, 2, 1024)
    first = model(x)
    torch.testing.assert_close(model(x), first, rtol=0, atol=0)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    clone = create_model(backbone, 2, 5, block=block)
    clone.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    torch.testing.assert_close(clone.eval()(x), first, rtol=0, atol=0)


@pytest.mark.parametrize(("backbone", "block"), COMBOS)
def test_torch_export_and_onnx_match_eager(backbone, block):
    onnxruntime = pytest.importorskip("onnxruntime")
    model = build(backbone, block).eval()
    x = torch.randn(2, 2, 1024)
    expected = model(x)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (x,), dynamo=True, verbose=False)
    session = onnxruntime.InferenceSession(program.model_proto.SerializeToString())
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_stage_lengths_match_the_gates(backbone):
    model = build(backbone, "cbam").eval()
    with capture_gates(model) as gates:
        model(torch.randn(1, 2, 2048))
    temporal = [g.shape[-1] for name, g in gates.items() if name.endswith("temporal_gate")]
    lengths = model.stage_lengths(2048)
    expected = lengths[:-1] if backbone != "resnet" else lengths[1:]
    assert temporal == expected


def test_block_per_stage():
    model = create_model("cnn", 1, 3, block=["none", "se", "eca", "cbam"])
    kinds = [type(stage.attn).__name__ for stage in model.stages]
    assert kinds == ["NoAttention", "SqueezeExcite", "EfficientChannelAttention", "CBAM"]
    with pytest.raises(SigattnError, match="got 2 names for 4 stages"):
        create_model("cnn", 1, 3, block=["se", "eca"])


def test_wdcnn_reproduces_published_layout():
    model = create_model("wdcnn", 1, 10)
    first = model.stages[0].conv
    assert (first.kernel_size, first.stride, first.out_channels) == ((64,), (16,), 16)
    assert [s.conv.out_channels for s in model.stages] == [16, 32, 64, 64, 64]
    assert [s.conv.kernel_size[0] for s in model.stages[1:]] == [3, 3, 3, 3]
    assert model.stage_lengths(2048)[-1] == 3  # 64 x 3 features into the 100-unit layer
    assert model.head.layers[2].in_features == 192 and model.head.layers[2].out_features == 100


def test_residual_variant_puts_attention_on_the_branch():
    model = create_model("resnet", 1, 3, block="se", depth=2)
    unit = model.stages[1][0]
    assert type(unit.attn).__name__ == "SqueezeExcite" and not isinstance(unit.shortcut, torch.nn.Identity)
    assert len(model.stages[1]) == 2


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(SigattnError, match="expected one of: cnn, resnet, wdcnn"):
        create_model("vgg", 1, 3)


def test_kernel_dropout_drops_first_layer_weights_in_training_only():
    model = create_model("cnn", 1, 3, block="none", kernel_dropout=0.5)
    conv = model.stages[0].conv
    assert conv.p == 0.5 and all(stage.conv.p == 0.0 for stage in model.stages[1:])
    x = torch.randn(2, 1, 512)
    torch.manual_seed(0)
    model.train()
    assert not torch.equal(conv(x), conv(x))
    model.eval()
    assert torch.equal(conv(x), conv(x)) and torch.equal(
        conv(x), torch.nn.functional.conv1d(x, conv.weight, None, 4, 15)
    )
    with pytest.raises(SigattnError, match="kernel_dropout must be in"):
        create_model("cnn", 1, 3, kernel_dropout=1.0)


def test_head_pooled_keeps_where_features_are_and_rejects_bad_counts():
    x = torch.randn(2, 4, 32)
    features = {n: Head(4, 3, pooled=n).layers[:2] for n in (1, 8)}  # pool and flatten
    assert torch.allclose(features[1](x), features[1](x.flip(-1))), "a global average forgets position"
    assert features[8](x).shape == (2, 32) and not torch.allclose(features[8](x), features[8](x.flip(-1)))
    model = create_model("cnn", 1, 3, head_pooled=8)
    assert model.head.layers[-1].in_features == 128 * 8
    for bad in (0, -1, 2.5, True):
        with pytest.raises(SigattnError, match=f"head_pooled must be an integer >= 1; got {bad!r}"):
            create_model("cnn", 1, 3, head_pooled=bad)
    with pytest.raises(SigattnError, match="head_hidden must be an integer >= 0; got -1"):
        create_model("cnn", 1, 3, head_hidden=-1)


@pytest.mark.parametrize("hidden", [0, 16])
def test_head_computes_in_fp32_inside_a_bf16_autocast(hidden):
    torch.manual_seed(0)
    head = Head(8, 5, hidden=hidden, side=3).eval()
    x, side = torch.randn(4, 8, 16).bfloat16(), torch.randn(4, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = head(x, side)
    assert logits.dtype == torch.float32
    assert torch.equal(logits, head(x.float(), side)), "no layer of the head may round to bf16"


def _pool_last(stage: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The stage as written in its docstring: the whole block, then the pooling."""
    return stage.pool(stage.attn(stage.act(stage.bn(stage.conv(x)))))


@pytest.mark.parametrize("block", sorted(BLOCKS))
@pytest.mark.parametrize("train", [True, False])
def test_stage_pooling_before_per_channel_steps_changes_nothing(block, train):
    torch.manual_seed(0)
    stage = ConvStage(3, 16, 5, 1, 2, block).train(train)
    with torch.no_grad():  # move every parameter (GC's zero-started layer too) off its initial value
        for p in stage.parameters():
            p.add_(0.3 * torch.randn_like(p))
    reference = copy.deepcopy(stage)
    x = torch.randn(4, 3, 33)  # odd conv output: the last pooling window is partial
    out, expected = stage(x), _pool_last(reference, x)
    assert torch.equal(out, expected)  # max pooling commutes exactly with a positive scale and a shift
    out.backward(grad := torch.randn_like(out)), expected.backward(grad)
    for (name, p), q in zip(stage.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)
    with torch.inference_mode():  # the blocks write in place here
        torch.testing.assert_close(stage.eval()(x), _pool_last(reference.eval(), x), rtol=0, atol=0)


class _PerChannelOps(TorchDispatchMode):
    """Records the output length of every elementwise product or sum with a per-channel (N, C, 1) operand."""

    def __init__(self) -> None:
        super().__init__()
        self.lengths: list[int] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        elementwise = func.overloadpacket in (aten.mul, aten.mul_, aten.add, aten.add_)
        per_channel = any(isinstance(a, torch.Tensor) and a.dim() == 3 and a.shape[-1] == 1 for a in args)
        if elementwise and per_channel and out.dim() == 3 and out.shape[-1] > 1:
            self.lengths.append(out.shape[-1])
        return out


@pytest.mark.parametrize("block", ["se", "eca", "gc", "ca"])
@pytest.mark.parametrize("grad", [True, False])
def test_per_channel_steps_run_on_the_pooled_map(block, grad):
    stage = ConvStage(1, 8, 3, 1, 1, block).eval()
    with torch.set_grad_enabled(grad), _PerChannelOps() as ops:
        stage(torch.randn(2, 1, 40))
    assert ops.lengths and set(ops.lengths) == {20}  # never the conv output's 40 samples
