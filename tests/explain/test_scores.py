"""Interpretability scores: periodic maps align, noise doesn't; R-peaked maps sit in the QRS; IG deletion bites."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sigattn.data.synthetic import fault_frequencies
from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.explain.alignment import (
    bearing_alignment_report,
    envelope_alignment,
    fault_alignment,
    fault_frequency_for,
)
from sigattn.explain.capture import StageAttention
from sigattn.explain.deletion import deletion_test
from sigattn.explain.ecg_mass import ecg_attention_mass, ecg_attention_report
from sigattn.explain.scores import interpretability_scores

FS, L, F0 = 12000.0, 2048, 162.0


def _stage(temporal: np.ndarray | None, stage: int = 1, channels: int = 4) -> StageAttention:
    n, length = temporal.shape if temporal is not None else (0, L)
    return StageAttention(f"stages.{stage}.attn", stage, np.ones((n, channels)), temporal, np.arange(length), 1)


def _pulse_train(n: int, f0: float, rng: np.random.Generator, width: float = 3.0) -> np.ndarray:
    period = FS / f0
    pos = (np.arange(L)[None] - rng.uniform(0, period, (n, 1))) % period
    return np.exp(-0.5 * (np.minimum(pos, period - pos) / width) ** 2)


def test_periodic_maps_align_and_noise_does_not():
    rng = np.random.default_rng(0)
    t = np.arange(L) / FS
    sine = 1 + np.sin(2 * np.pi * F0 * t + rng.uniform(0, 2 * np.pi, (16, 1)))
    assert fault_alignment(sine, FS, F0).score > 3
    assert fault_alignment(_pulse_train(16, F0, rng), FS, F0).score > 3
    noise = fault_alignment(rng.random((32, L)), FS, F0)
    assert 0.5 < noise.score < 1.5 and noise.n == 32
    assert fault_alignment(sine, FS, 1.37 * F0).score < 0.5  # the wrong rhythm


def test_alignment_is_seeded_skips_constant_maps_and_checks_input():
    maps = np.random.default_rng(0).random((4, L))
    assert fault_alignment(maps, FS, F0, seed=3) == fault_alignment(maps, FS, F0, seed=3)
    assert fault_alignment(np.vstack([maps, np.ones((1, L))]), FS, F0).n == 4
    assert np.isnan(fault_alignment(np.ones((2, L)), FS, F0).score)
    for bad in (dict(fault_hz=FS), dict(fault_hz=1.0), dict(fault_hz=[F0, F0])):
        with pytest.raises(SigattnError):
            fault_alignment(maps, FS, **bad)


def test_envelope_alignment_sees_the_impulse_rhythm():
    rng = np.random.default_rng(0)
    carrier = np.sin(2 * np.pi * 3000 * np.arange(L) / FS)
    bursts = _pulse_train(8, F0, rng, width=4.0) * carrier + 0.1 * rng.normal(size=(8, L))
    noise = envelope_alignment(rng.normal(size=(8, L)), FS, F0).score
    assert envelope_alignment(bursts[:, None], FS, F0).score > 10 * noise
    assert noise < 3  # above 1: a noise envelope is itself low-pass (the documented bias of the baseline)


def test_fault_frequency_for_maps_labels():
    f = fault_frequencies(1797)
    assert fault_frequency_for("IR007", 1797) == f["BPFI"] and fault_frequency_for("IR", 1797) == f["BPFI"]
    assert fault_frequency_for("OR021", 1797) == f["BPFO"]
    assert fault_frequency_for("B014", 1797) == pytest.approx(4.7135 * 1797 / 60, rel=1e-3)  # 2 BSF
    assert fault_frequency_for("Normal", 1797) is None
    with pytest.raises(SigattnError, match="expected Normal"):
        fault_frequency_for("N", 1797)


def _bearing_windows(rng: np.random.Generator, rpm: float = 1760.0) -> tuple[Windows, np.ndarray]:
    classes = ("Normal", "IR", "B", "OR")
    y = np.repeat(np.arange(4), 6)
    maps = np.stack(
        [rng.random(L) if c == 0 else _pulse_train(1, fault_frequency_for(classes[c], rpm), rng)[0] for c in y]
    )
    x = rng.normal(size=(len(y), 1, L)).astype(np.float32)
    src = np.array([f"syn-{classes[c]}-{i:03d}" for i, c in enumerate(y)])
    return Windows(x, y, classes, src, src, np.zeros(len(y), np.int64), FS), maps


def test_bearing_report_per_stage_and_class():
    windows, maps = _bearing_windows(np.random.default_rng(0))
    attention = [_stage(None, 0), _stage(maps, 2)]
    report = bearing_alignment_report(attention, windows, {s: 1760.0 for s in windows.sources}, shuffles=5)
    assert set(report) == {"input", "stage2"} and set(report["stage2"]) == {"IR", "B", "OR"}
    for s in report["stage2"].values():
        assert s["score"] > 3 and 0.5 < s["control"] < 1.5 and s["n"] == 6
    with pytest.raises(SigattnError, match="rpm_by_source"):
        bearing_alignment_report(attention, windows, {"other": 1760.0})


def test_ecg_mass_peaked_and_flat_maps():
    fs, before, length = 360.0, 90, 260
    peaked = np.exp(-0.5 * ((np.arange(length) - before) / 3.0) ** 2)[None].repeat(3, 0)
    m = ecg_attention_mass(peaked, fs, before)
    assert m["qrs"] > 0.99 and m["p"] < 0.01
    flat = ecg_attention_mass(np.full((2, length), 0.5), fs, before)
    assert flat["qrs"] == pytest.approx(flat["qrs_chance"]) and flat["p"] == pytest.approx(flat["p_chance"])
    assert flat["qrs_chance"] == pytest.approx(37 / 260) and flat["p_chance"] == pytest.approx(48 / 260)
    with pytest.raises(SigattnError, match="non-negative"):
        ecg_attention_mass(-peaked, fs, before)


def test_ecg_report_per_aami_class():
    y = np.array([0, 0, 2, 2])
    windows = Windows(np.zeros((4, 1, 260), np.float32), y, ("N", "S", "V"), *(np.array(["r"] * 4),) * 2,
                      np.zeros(4, np.int64), 360.0)  # fmt: skip
    maps = np.random.default_rng(0).random((4, 260))
    report = ecg_attention_report([_stage(maps, 1)], windows, 90)
    assert set(report["stage1"]) == {"all", "N", "V"} and report["stage1"]["V"]["n"] == 2


class _BumpNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(1, 8, 9, padding=4), nn.ReLU(), nn.Conv1d(8, 8, 5, padding=2), nn.ReLU())
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).amax(-1))


def _bump_data(n: int, rng: np.random.Generator, length: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class 1 has a Gaussian bump at a random place; returns x, y and each window's bump location map."""
    y = rng.integers(0, 2, n)
    centre = rng.integers(10, length - 10, n)
    where = np.exp(-0.5 * ((np.arange(length)[None] - centre[:, None]) / 2.0) ** 2)
    x = 0.3 * rng.normal(size=(n, 1, length)) + 2.0 * (y[:, None, None] * where[:, None])
    return x.astype(np.float32), y, where


@pytest.fixture(scope="module")
def bump_model() -> _BumpNet:
    torch.manual_seed(0)
    x, y, _ = _bump_data(512, np.random.default_rng(0))
    model, xt, yt = _BumpNet(), torch.from_numpy(x), torch.from_numpy(y)
    opt, threads = torch.optim.Adam(model.parameters(), lr=1e-2), torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model trains fastest on one thread, even on a busy machine
    try:
        for step in range(150):
            i = torch.arange(step * 64, step * 64 + 64) % len(x)
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[i]), yt[i]).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def test_deletion_ig_and_true_attention_beat_random(bump_model):
    x, y, where = _bump_data(128, np.random.default_rng(1))
    result = deletion_test(bump_model, x, y, where, fraction=0.1, ig_steps=16)
    assert result["accuracy"] > 0.95 and result["n"] == 128 and result["fraction"] == 0.1
    assert result["drop_ig"] > result["drop_random"] + 0.2
    assert result["drop_attention"] > result["drop_random"] + 0.2
    mean = deletion_test(bump_model, x, y, None, baseline="mean", max_windows=64, ig_steps=8)
    assert mean["n"] == 64 and "drop_attention" not in mean and mean["drop_ig"] > mean["drop_random"]
    with pytest.raises(SigattnError):
        deletion_test(bump_model, x, y, where, fraction=1.5)


def test_interpretability_scores_flat_names(bump_model):
    windows, maps = _bearing_windows(np.random.default_rng(0))
    windows = Windows(windows.x[:, :, :128], windows.y % 2, ("Normal", "IR"), windows.sources, windows.groups,
                      windows.starts, FS)  # fmt: skip
    with pytest.raises(SigattnError, match="different number"):
        interpretability_scores(bump_model, windows, [_stage(maps[:3, :128])], dataset="synthetic")
    scores = interpretability_scores(bump_model, windows, [_stage(maps[:, :128], 1)], dataset="manifest", ig_steps=4)
    assert {"deletion_drop_attention", "deletion_drop_ig", "deletion_drop_random", "deletion_stage"} <= set(scores)
    assert all(isinstance(v, float) for v in scores.values())
    with pytest.raises(SigattnError, match="before"):
        interpretability_scores(bump_model, windows, [], dataset="mitdb")
