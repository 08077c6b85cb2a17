"""Distance between class-average attention maps, against the two-halves control, and in maps.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
from torch import nn

from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.explain.capture import StageAttention
from sigattn.explain.class_maps import class_distance
from sigattn.explain.figures import _balanced_choice, attention_report

CLASSES = ("N", "S", "V")
LENGTH, STRIDE = 64, 4


def fake_maps(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y (40,): 24 N, 8 S, 8 V; temporal maps (40, 16) at stage resolution: noise around 0.5, with
    S peaking early and V late (0.4 above the rest)."""
    rng = np.random.default_rng(seed)
    y = np.array([0] * 24 + [1] * 8 + [2] * 8)
    maps = np.clip(0.5 + 0.05 * rng.standard_normal((len(y), LENGTH // STRIDE)), 0, 1)
    maps[y == 1, :4] += 0.4
    maps[y == 2, -4:] += 0.4
    return y, maps


def test_different_maps_are_further_apart_than_two_halves_of_one_class():
    y, maps = fake_maps()
    d = class_distance(maps, y, CLASSES)
    assert set(d) == {"N-S", "N-V", "S-V", "N-N(halves)"}
    assert d["S-V"] == pytest.approx(0.2, abs=0.03)  # 0.4 apart on 8 of 16 positions
    assert d["N-S"] == pytest.approx(0.1, abs=0.03) and d["S-V"] > 5 * d["N-N(halves)"]
    assert class_distance(maps, y, CLASSES) == d  # seeded
    same = class_distance(np.tile(maps[:1], (len(y), 1)), y, CLASSES)
    assert set(same.values()) == {0.0}


def test_absent_classes_are_skipped_and_the_largest_class_is_the_control_without_n():
    y, maps = fake_maps()
    d = class_distance(maps[y > 0], y[y > 0], CLASSES)
    assert set(d) == {"S-V"}  # no N windows: no pair with N, no control
    d = class_distance(maps, y, ("normal", "ir", "or"))
    assert set(d) == {"normal-ir", "normal-or", "ir-or", "normal-normal(halves)"}
    with pytest.raises(SigattnError, match=r"maps \(N, L\) and y \(N,\)"):
        class_distance(maps[:3], y, CLASSES)


def test_attention_report_writes_class_distance_per_temporal_stage(monkeypatch):
    y, maps = fake_maps()
    centers = np.arange(LENGTH // STRIDE) * STRIDE + STRIDE / 2
    stages = [
        StageAttention("stages.0.attn", 0, np.full((len(y), 4), 0.5), maps, centers, STRIDE, "sigmoid"),
        StageAttention("stages.1.attn", 1, np.full((len(y), 4), 0.5), None, centers, STRIDE),
    ]
    monkeypatch.setattr("sigattn.explain.figures.collect_attention", lambda model, x, side=None: stages)
    monkeypatch.setattr("sigattn.explain.figures.faithfulness_figures", lambda *a, **k: {})  # no model to attribute
    x = np.random.default_rng(1).standard_normal((len(y), 1, LENGTH)).astype(np.float32)
    names = np.array(["100"] * len(y))
    windows = Windows(x, y, CLASSES, names, names, np.zeros(len(y), dtype=np.int64), 360.0)
    probs = np.eye(3)[y] * 0.8 + 0.1 / 1.5
    _, summary = attention_report(nn.Identity(), windows, probs, run_name="r", block="cbam", per_class=1)
    timed, channel_only = json.loads(json.dumps(summary))["stages"]
    assert "class_distance" not in channel_only
    d = timed["class_distance"]
    on_input = stages[0].temporal_on_input(LENGTH)
    assert d == class_distance(on_input, y, CLASSES)  # on input samples, as plotted
    assert d["S-V"] > 5 * d["N-N(halves)"]
    assert set(timed) == {"name", "stage", "receptive_field", "channel_mean", "temporal_kind", "centers",
                          "temporal_mean", "temporal_std", "class_distance"}  # fmt: skip


def test_the_attention_sample_keeps_every_window_of_a_rare_class():
    y = np.array([0] * 5000 + [1] * 19 + [2] * 300 + [4] * 3)
    keep = _balanced_choice(y, 5, 512)
    counts = np.bincount(y[keep], minlength=5)
    assert len(keep) == 512 and np.all(np.diff(keep) > 0)
    assert counts[1] == 19 and counts[4] == 3, "rare classes keep all their windows"
    assert counts[0] == counts[2] == (512 - 22) // 2, "the rest is shared equally"
    assert np.array_equal(keep, _balanced_choice(y, 5, 512)), "seeded"
    assert np.array_equal(_balanced_choice(y[:100], 5, 512), np.arange(100))
