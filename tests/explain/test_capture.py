"""Attention maps: shapes, receptive-field geometry against gradients, figures and the report."""

from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest
import torch
from torch import nn

from sigattn.blocks import BLOCKS, create_block
from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.explain.axis import InputAxis
from sigattn.explain.capture import StageAttention, attention_blocks, collect_attention
from sigattn.explain.figures import attention_report, channel_heatmap_figure, class_average_figure, overlay_figure
from sigattn.models import AttnCNN, create_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread, no OpenMP spin-waits

GATED = sorted(set(BLOCKS) - {"none"})
TEMPORAL = {"cbam", "gc", "ca"}  # blocks with a temporal map by default
CHANNEL = {"se", "eca", "cbam", "ca"}  # blocks with a channel gate by default


def build(backbone: str, block: str) -> nn.Module:
    torch.manual_seed(0)
    model = create_model(backbone, 2, 3, block=block)
    model.train()
    model(torch.randn(4, 2, 1024))  # move BN statistics away from their initial values
    return model.eval()


def attention_inputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Size]:
    """The input shape of every attention block in one forward pass."""
    shapes: dict[str, torch.Size] = {}
    handles = [
        model.get_submodule(name).register_forward_hook(lambda m, a, o, name=name: shapes.__setitem__(name, a[0].shape))
        for name in attention_blocks(model)
    ]
    with torch.inference_mode():
        model(x)
    for handle in handles:
        handle.remove()
    return shapes


@pytest.mark.parametrize("backbone", ["cnn", "resnet", "wdcnn"])
@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_maps_have_the_documented_shapes_and_leave_outputs_alone(backbone, block):
    model = build(backbone, block)
    x = np.random.default_rng(0).standard_normal((5, 2, 1024)).astype(np.float32)
    with torch.inference_mode():
        before = model(torch.from_numpy(x))
    model.train()
    stages = collect_attention(model, x, batch_size=2)  # three batches, concatenated
    assert model.training  # the mode is restored
    model.eval()
    with torch.inference_mode():
        assert torch.equal(model(torch.from_numpy(x)), before)
    if block == "none":
        assert stages == []
        return
    shapes = attention_inputs(model, torch.from_numpy(x))
    assert [s.name for s in stages] == list(shapes) and [s.stage for s in stages] == list(range(len(shapes)))
    for sa in stages:
        _, channels, length = shapes[sa.name]
        assert sa.centers.shape == (length,) and np.all(np.diff(sa.centers) > 0) and sa.receptive_field >= 1
        assert (sa.channel is not None) == (block in CHANNEL) and (sa.temporal is not None) == (block in TEMPORAL)
        if sa.channel is not None:
            assert sa.channel.shape == (5, channels) and ((sa.channel >= 0) & (sa.channel <= 1)).all()
        if sa.temporal is None:
            with pytest.raises(SigattnError, match="has no temporal map"):
                sa.temporal_on_input(1024)
            continue
        assert sa.temporal.shape == (5, length) and sa.temporal_kind == ("softmax" if block == "gc" else "sigmoid")
        if block == "gc":
            np.testing.assert_allclose(sa.temporal.sum(axis=1), 1.0, rtol=1e-5)
        on_input = sa.temporal_on_input(1024)
        assert on_input.shape == (5, 1024) and ((on_input >= 0) & (on_input <= 1)).all()
        lows, highs = sa.temporal.min(axis=1, keepdims=True), sa.temporal.max(axis=1, keepdims=True)
        assert ((on_input >= lows - 1e-6) & (on_input <= highs + 1e-6)).all()


def linearised(model: nn.Module) -> nn.Module:
    """The same geometry with dense gradients: no attention, no ReLU, average instead of max
    pooling (same kernel, stride, ceil_mode) and positive conv weights."""
    lin, blocks = copy.deepcopy(model).eval(), set(attention_blocks(model))
    for name, module in list(lin.named_modules()):
        for child_name, child in list(module.named_children()):
            if f"{name}.{child_name}".lstrip(".") in blocks or isinstance(child, nn.ReLU):
                setattr(module, child_name, nn.Identity())
            elif isinstance(child, nn.MaxPool1d):
                setattr(module, child_name, nn.AvgPool1d(child.kernel_size, child.stride, ceil_mode=child.ceil_mode))
    with torch.no_grad():
        for module in lin.modules():
            if isinstance(module, nn.Conv1d):
                module.weight.copy_(module.weight.abs() + 0.1)
    return lin


@pytest.mark.parametrize("backbone", ["cnn", "resnet", "wdcnn"])
def test_centers_and_receptive_fields_match_input_gradients(backbone):
    model, length = build(backbone, "cbam"), 3001
    stages = collect_attention(model, np.zeros((1, 2, length), dtype=np.float32))
    lin = linearised(model)
    assert len(stages) == len(attention_blocks(model))
    for sa in stages:
        seen: dict[str, torch.Tensor] = {}
        handle = lin.get_submodule(sa.name).register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("x", o))
        positions = np.unique(np.linspace(0, len(sa.centers) - 1, 9).astype(int))
        x = torch.ones(len(positions), 2, length, requires_grad=True)  # one row per probed position
        lin(x)
        handle.remove()
        seen["x"][torch.arange(len(positions)), :, torch.from_numpy(positions)].sum().backward()
        inside = 0
        for row, j in enumerate(positions):
            support = np.flatnonzero(x.grad[row].abs().sum(dim=0).numpy())
            first = sa.centers[j] - (sa.receptive_field - 1) / 2
            last = first + sa.receptive_field - 1
            assert first <= support[0] and support[-1] <= last, (sa.name, j)
            if first >= 0 and last <= length - 1:  # not clipped by padding or the window's end
                inside += 1
                assert support[-1] - support[0] + 1 == sa.receptive_field, (sa.name, j)
                assert abs((support[0] + support[-1]) / 2 - sa.centers[j]) <= 1, (sa.name, j)
        assert inside >= 3, sa.name


def test_blocks_without_gates_are_skipped_and_stages_keep_their_index():
    torch.manual_seed(0)
    model = AttnCNN(1, 3, block=["se", "none", "gc", "gc"], widths=(8, 8, 16, 16)).eval()
    model.stages[2].attn = create_block("gc", 16, pooling="avg")  # channel_add only: no gate
    model.stages[3].attn = create_block("gc", 16, pooling="avg", fusions=("channel_mul",))
    stages = collect_attention(model, np.random.default_rng(0).standard_normal((3, 1, 512)).astype(np.float32))
    assert [(s.name, s.stage) for s in stages] == [("stages.0.attn", 0), ("stages.3.attn", 3)]
    assert stages[1].temporal is None and stages[1].channel.shape == (3, 16)


def test_temporal_on_input_interpolates_and_holds_the_edges():
    sa = StageAttention("b", 0, None, np.array([[0.0, 1.0, 0.5]]), np.array([1.5, 5.5, 9.5]), 4)
    out = sa.temporal_on_input(12)
    np.testing.assert_allclose(out[0], np.interp(np.arange(12), sa.centers, sa.temporal[0]))
    assert out[0, 0] == 0.0 and out[0, -1] == 0.5 and out[0, 3] == 0.375


def test_bad_inputs_name_the_problem():
    with pytest.raises(SigattnError, match=r"shape \(N, C, L\)"):
        collect_attention(build("cnn", "se"), np.zeros((2, 64), dtype=np.float32))
    with pytest.raises(SigattnError, match="attention_geometry"):
        collect_attention(nn.Sequential(nn.Conv1d(1, 1, 3)), np.zeros((1, 1, 64), dtype=np.float32))


def tiny_windows(n: int = 16, length: int = 256, fs: float = 1000.0) -> tuple[Windows, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    probs = np.where(np.arange(n)[:, None] % 3 == 2, 1 - np.eye(2)[y], np.eye(2)[y]) * 0.8 + 0.1
    x = rng.standard_normal((n, 1, length)).astype(np.float32)
    strings = np.array(["r0"] * n)
    return Windows(x, y, ("normal", "fault/ir"), strings, strings, np.zeros(n, dtype=np.int64), fs), probs


def tiny_model(block: str) -> nn.Module:
    torch.manual_seed(0)
    return AttnCNN(1, 2, block=block, widths=(8, 16), kernels=(15, 5), strides=(2, 1)).eval()


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_attention_report_figures_and_maps(block):
    windows, probs = tiny_windows()
    figures, maps = attention_report(tiny_model(block), windows, probs, run_name="run-x", block=block, per_class=1)
    expected = {"attention/class_average_ig.png"}  # every block, "none" too: IG needs no gates
    for name in ("normal", "fault-ir"):
        expected |= {f"attention/overlay_{name}_correct_0.png", f"attention/overlay_{name}_wrong_0.png"}
    if block == "none":
        assert set(figures) == expected and maps == {}
        return
    for k in (0, 1):
        if block in CHANNEL:
            expected.add(f"attention/channels_stage{k}.png")
        if block in TEMPORAL:
            expected.add(f"attention/class_average_stage{k}.png")
    assert set(figures) == expected
    for path, figure in figures.items():
        assert png(figure)[:8] == b"\x89PNG\r\n\x1a\n"
        title = figure.get_suptitle() + " ".join(ax.get_title(loc) for ax in figure.axes for loc in ("left", "center"))
        assert "run-x" in title and block in title and ("stages." in title or path.endswith("_ig.png")), path
        if "overlay" in path:
            assert "class" in title and ("correct" in path) == ("correct" in title)
        for ax in figure.axes:
            assert ax.get_xlabel() or ax.get_ylabel(), path  # colour bars carry a label too
    decoded = json.loads(json.dumps(maps))
    assert decoded["classes"] == ["normal", "fault/ir"] and len(decoded["stages"]) == 2
    for stage in decoded["stages"]:
        if block in TEMPORAL:
            assert len(stage["temporal_mean"]["normal"]) == len(stage["centers"])
        if block in CHANNEL:
            assert len(stage["channel_mean"]["fault/ir"]) == (8 if stage["stage"] == 0 else 16)


def test_report_subsamples_deterministically():
    windows, probs = tiny_windows(n=40)
    model = tiny_model("cbam")
    a = attention_report(model, windows, probs, run_name="r", block="cbam", max_windows=10, per_class=1)[1]
    b = attention_report(model, windows, probs, run_name="r", block="cbam", max_windows=10, per_class=1)[1]
    assert a == b and a["n_windows"] == 10
    with pytest.raises(SigattnError, match=r"probs must be \(N, K\)"):
        attention_report(model, windows, probs[:3], run_name="r", block="cbam")


def test_figures_label_units_and_ranges():
    signal, weights = np.random.default_rng(0).standard_normal((2, 300)), np.linspace(0, 1, 300)
    fig = overlay_figure(
        signal, InputAxis(None), [("stage 0", weights), ("stage 1", weights / 300, "softmax")], "run · gc"
    )
    assert fig.axes[1].get_xlabel() == "time (samples)" and fig.get_suptitle() == "run · gc"
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "attention weight (0-1)" in labels and any("softmax" in label for label in labels)
    fig = class_average_figure(
        np.arange(300), np.ones((2, 300)) / 2, np.zeros((2, 300)), ["a", "b"], "s0", "r", InputAxis(100.0)
    )
    assert fig.axes[0].get_xlabel() == "time (s)" and fig.axes[0].get_legend() is not None
    fig = channel_heatmap_figure(np.array([[0.2, 0.9], [np.nan, np.nan]]), ["a", "b"], "s0", "r")
    assert fig.axes[0].get_xlabel() == "channel" and "mean channel gate (0-1)" in fig.axes[1].get_ylabel()
    assert png(fig)
    with pytest.raises(SigattnError, match="class_means must be"):
        channel_heatmap_figure(np.zeros((3, 2)), ["a", "b"], "s0", "r")
