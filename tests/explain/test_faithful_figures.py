"""Overlays carry attention beside Integrated Gradients with deletion drops; the best view is drawn first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sigattn.data.types import Windows
from sigattn.explain.capture import StageAttention
from sigattn.explain.deletion import deletion_test
from sigattn.explain.figures import attention_report
from sigattn.explain.ig_spectrum import envelope_spectra
from sigattn.explain.views import attention_views, best_first, window_drops
from sigattn.explain.window_panels import faithfulness_verdict
from sigattn.models import AttnCNN

pytestmark = pytest.mark.usefixtures("one_thread")

SCORES = {  # interpretability metrics as a run logs them: stage 0 beats stage 1 on purpose
    "deletion_drop_attention": 0.05,
    "deletion_drop_attention_stage0": 0.11,
    "deletion_drop_attention_stage1": 0.05,
    "deletion_drop_attention_product": 0.07,
    "deletion_drop_ig": 0.31,
    "deletion_drop_random": 0.01,
}
RUN_LINE = "deletion drop on the scored split (accuracy, top 10 % masked): "


def tiny(block: str) -> nn.Module:
    torch.manual_seed(0)
    return AttnCNN(1, 2, block=block, widths=(8, 16), kernels=(15, 5), strides=(2, 1)).eval()


def beats(n: int = 12, length: int = 128, fs: float = 360.0) -> tuple[Windows, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    probs = np.where(np.arange(n)[:, None] % 3 == 2, 1 - np.eye(2)[y], np.eye(2)[y]) * 0.8 + 0.1
    names = np.array(["100"] * n)
    x = rng.standard_normal((n, 1, length)).astype(np.float32)
    return Windows(x, y, ("N", "V"), names, names, np.zeros(n, dtype=np.int64), fs), probs


def overlay(block: str):
    windows, probs = beats()
    figures, _ = attention_report(tiny(block), windows, probs, run_name="run-x", block=block, per_class=1,
                                  scores=SCORES, r_index=40)  # fmt: skip
    return figures


def titles(fig) -> list[str]:
    return [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]


@pytest.mark.parametrize(
    ("block", "panels"),
    [
        ("cbam", ["attention: stage 0", "attention: product of stages 0, 1", "attention: stage 1", "Integrated"]),
        ("se", ["Integrated", "stage 0 (stages.0.attn), channel gates", "stage 1 (stages.1.attn), channel gates"]),
        ("none", ["Integrated"]),
    ],
)
def test_every_overlay_shows_attention_beside_ig_with_the_drops(block, panels):
    figures = overlay(block)
    overlays = {p: f for p, f in figures.items() if "/overlay_" in p}
    assert set(overlays) == {f"attention/overlay_{c}_{o}_0.png" for c in ("N", "V") for o in ("correct", "wrong")}
    for fig in overlays.values():
        shown = titles(fig)
        assert len(shown) == len(panels), shown
        assert all(t.startswith(p) for t, p in zip(shown, panels, strict=True)), shown  # best view first
        strips = [t for t in shown if "channel gates" not in t]
        assert all("masking its top 10 % lowers p(" in t for t in strips)
        head, window_line, run_line, verdict = fig.get_suptitle().split("\n")
        assert head.startswith(f"run-x · {block}: class ")
        assert window_line.startswith("drop in p(") and "IG " in window_line and "random " in window_line
        assert ("attention stage0" in window_line) == (block == "cbam")
        assert run_line == RUN_LINE + (
            "attention stage0 0.11, attention product 0.07, attention stage1 0.05, IG 0.31, random 0.01"
        )
        assert verdict == "attention's best drop is under half of IG's: trust the IG strip over the attention strips"
        labels = [ax.get_ylabel() for ax in fig.axes]
        assert "|IG| / window max (0-1)" in labels  # the IG strip's colour bar
        assert ("channel gate (0-1)" in labels) == (block == "se")


@pytest.mark.parametrize(
    ("best", "random", "says"),
    [(0.11, 0.01, "under half of IG's"), (0.16, 0.01, "at least half of IG's"), (0.02, 0.02, "no better than random")],
)
def test_the_verdict_says_whether_attention_met_the_target(best, random, says):
    scores = {"deletion_drop_attention_stage0": best, "deletion_drop_ig": 0.31, "deletion_drop_random": random}
    assert says in faithfulness_verdict(scores)
    assert faithfulness_verdict({"deletion_drop_ig": 0.3}) is None  # no attention view: nothing to judge


@pytest.mark.parametrize("block", ["cbam", "se", "none"])
def test_class_average_ig_is_aligned_on_the_r_peak(block):
    fig = overlay(block)["attention/class_average_ig.png"]
    (ax,) = fig.axes
    assert ax.get_xlabel() == "time from R peak (ms)"
    assert ax.get_title() == "run-x · " + block + ": Integrated Gradients, mean |attribution| per class"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["QRS (R ± 50 ms)", "P wave (R-250 .. R-120 ms)"] and legend[2].startswith("N (n=")
    assert ax.get_xlim()[0] == pytest.approx(-40 / 360 * 1000)


def test_without_run_scores_views_are_ordered_by_this_sample_and_no_run_line():
    windows, probs = beats()
    figures, _ = attention_report(tiny("cbam"), windows, probs, run_name="r", block="cbam", per_class=1)
    fig = figures["attention/overlay_N_correct_0.png"]
    assert len(fig.get_suptitle().split("\n")) == 2 and len(titles(fig)) == 4
    assert figures["attention/class_average_ig.png"].axes[0].get_xlabel() == "time (s)"


def _stage(k: int, temporal: np.ndarray, kind: str = "sigmoid") -> StageAttention:
    n, length = temporal.shape
    return StageAttention(f"stages.{k}.attn", k, None, temporal, np.arange(length, dtype=float), 1, kind)


def test_views_are_stages_on_input_and_their_product():
    a, b = np.full((2, 8), 0.5), np.arange(16.0).reshape(2, 8)
    views = attention_views([_stage(0, a), _stage(2, b / b.sum(1, keepdims=True), "softmax")], 8)
    assert list(views) == ["stage0", "stage2", "product"]
    np.testing.assert_allclose(views["stage2"].max(1), 1.0)  # softmax maps divided by the window max
    np.testing.assert_allclose(views["product"], 0.5 * views["stage2"])
    assert list(attention_views([_stage(0, a)], 8)) == ["stage0"]
    assert best_first(["stage0", "stage2", "product"], {"stage2": 0.3, "product": 0.4}) == [
        "product", "stage2", "stage0"]  # fmt: skip


class _Spot(nn.Module):
    """Logit of class 1 = 4 x the signal's value at sample 5: only that sample matters."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.zeros_like(x[:, 0, 5]), self.scale * x[:, 0, 5]], dim=1)


def test_deletion_scores_every_view_and_window_drops_find_the_sample_that_matters():
    model, x = _Spot(), np.ones((6, 1, 20), dtype=np.float32)
    spot = np.zeros((6, 20))
    spot[:, 5] = 1.0
    out = deletion_test(model, x, np.ones(6, dtype=np.int64), None, views={"stage3": spot, "product": -spot},
                        fraction=0.05, ig_steps=4)  # fmt: skip
    assert out["drop_attention_stage3"] == 1.0 and out["drop_attention_product"] == 0.0
    drops = window_drops(model, x, {"right": spot, "wrong": -spot}, np.ones(6, dtype=np.int64), fraction=0.05)
    assert set(drops) == {"right", "wrong", "random"} and drops["right"].shape == (6,)
    assert (drops["right"] > 0.4).all() and np.allclose(drops["wrong"], 0.0)


def test_envelope_spectrum_peaks_at_the_rhythm_of_the_map():
    fs, f0 = 12000.0, 162.0
    t = np.arange(4096) / fs
    maps = np.abs(np.sin(np.pi * f0 * t))[None] ** 8 * np.ones((3, 1))  # |IG|-like pulses at f0
    freqs, spectra = envelope_spectra(maps, fs)
    assert spectra.shape == (3, len(freqs)) and np.allclose(spectra.max(1), 1.0)
    assert abs(freqs[spectra[0].argmax()] - f0) <= fs / 4096


def test_bearing_runs_get_the_ig_envelope_spectrum_with_fault_lines():
    rng = np.random.default_rng(0)
    names = np.array(["r0"] * 12)
    x = rng.standard_normal((12, 1, 256)).astype(np.float32)
    windows = Windows(x, np.arange(12) % 2, ("Normal", "IR"), names, names, np.zeros(12, dtype=np.int64), 12000.0)
    probs = np.eye(2)[windows.y] * 0.8 + 0.1
    figures, _ = attention_report(tiny("se"), windows, probs, run_name="r", block="se", per_class=1,
                                  dataset="synthetic")  # fmt: skip
    (ax,) = figures["attention/class_envelope_ig.png"].axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_xlabel() == "envelope frequency (Hz)" and "envelope spectrum" in ax.get_title()
    assert [label.split()[0] for label in legend[2:]] == ["BPFI", "BPFO", "2xBSF"] and legend[0].startswith("Normal")
    assert "class_envelope_ig.png" not in " ".join(overlay("se"))  # ECG: no fault lines
