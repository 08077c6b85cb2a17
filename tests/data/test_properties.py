"""Property tests: filters over random parameters and shapes, window counts against brute force, and
the leakage audit against random split assignments with a planted leak.

test_filters.py and test_windows.py hold the fixed-parameter linearity and window-slice properties;
these widen them to random rates, cut-offs, orders, shapes and amplitudes, and add the audit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigattn.data import filters
from sigattn.data.splits import audit
from sigattn.data.types import SPLITS, Windows
from sigattn.data.windows import count_windows, sliding_windows
from sigattn.errors import SigattnError

FEW = settings(max_examples=30, deadline=None)


@st.composite
def filter_calls(draw) -> tuple[str, float, dict]:
    """A linear filter with valid random parameters: (name, fs, keyword arguments)."""
    fs = draw(st.sampled_from([250.0, 360.0, 1000.0, 12000.0]))
    nyq = fs / 2
    name = draw(st.sampled_from(["bandpass", "lowpass", "highpass", "notch", "remove_baseline"]))
    order = draw(st.integers(1, 6))
    if name == "bandpass":
        low = draw(st.floats(0.01 * nyq, 0.4 * nyq))
        high = draw(st.floats(low * 1.2, 0.95 * nyq))
        return name, fs, {"low": low, "high": high, "order": order}
    if name in ("lowpass", "highpass"):
        return name, fs, {"cutoff": draw(st.floats(0.02 * nyq, 0.9 * nyq)), "order": order}
    if name == "notch":
        return name, fs, {"freq": draw(st.floats(0.05 * nyq, 0.9 * nyq)), "q": draw(st.floats(5.0, 50.0))}
    return name, fs, {"cutoff": draw(st.floats(0.1, 2.0)), "order": draw(st.integers(1, 3))}


shapes = st.sampled_from([(600,), (2, 600), (3, 1, 700), (1, 2, 3, 512)])


@FEW
@given(call=filter_calls(), shape=shapes, a=st.floats(-3, 3), b=st.floats(-3, 3), seed=st.integers(0, 2**16))
def test_filters_are_linear_for_random_parameters_and_shapes(call, shape, a, b, seed):
    name, fs, kwargs = call
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(2, *shape))

    def f(s: np.ndarray) -> np.ndarray:
        return getattr(filters, name)(s, fs, **kwargs)

    out = f(a * x + b * y)
    assert out.shape == shape
    scale = max(1.0, float(np.abs(out).max()))
    np.testing.assert_allclose(out, a * f(x) + b * f(y), atol=1e-7 * scale)


@FEW
@given(call=filter_calls(), shape=shapes, exponent=st.integers(-20, 20), seed=st.integers(0, 2**16))
def test_finite_input_gives_finite_output_of_the_same_shape_and_dtype(call, shape, exponent, seed):
    name, fs, kwargs = call
    x = (np.random.default_rng(seed).normal(size=shape) * 10.0**exponent).astype(np.float32)
    out = getattr(filters, name)(x, fs, **kwargs)
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()


@FEW
@given(
    shape=shapes,
    method=st.sampled_from(filters.NORMALIZE_METHODS),
    exponent=st.integers(-15, 15),
    flat=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_normalize_and_envelope_keep_shape_and_stay_finite(shape, method, exponent, flat, seed):
    x = np.random.default_rng(seed).normal(size=shape) * 10.0**exponent
    if flat:
        x[..., :] = x[..., :1]  # constant windows must not divide by zero
    for out in (filters.normalize(x, method), filters.envelope(x)):
        assert out.shape == x.shape and np.isfinite(out).all()
    assert (filters.envelope(x) >= 0).all()
    if method == "minmax":
        z = filters.normalize(x, method)
        assert z.min() >= 0 and z.max() <= 1 + 1e-9


@FEW
@given(fs=st.sampled_from([250.0, 360.0, 1000.0]), target=st.sampled_from([100.0, 128.0, 250.0, 500.0]))
def test_resample_is_finite_and_scales_the_length(fs, target):
    x = np.random.default_rng(0).normal(size=(2, 1000))
    out, new_fs = filters.resample(x, fs, target)
    assert new_fs == pytest.approx(target, rel=1e-3)
    assert out.shape[0] == 2 and abs(out.shape[1] - 1000 * new_fs / fs) <= 1 and np.isfinite(out).all()


# ---- windows ------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 400), length=st.integers(1, 60), stride=st.integers(1, 60))
def test_count_matches_the_formula_and_a_brute_force_count(n, length, stride):
    expected = (n - length) // stride + 1 if n >= length else 0
    assert count_windows(n, length, stride) == expected
    assert expected == sum(1 for start in range(0, max(n, 1), stride) if start + length <= n)
    signal = np.arange(2 * n, dtype=np.float64).reshape(2, n)
    if expected == 0:
        with pytest.raises(SigattnError, match="shorter than one window"):
            sliding_windows(signal, length, stride)
        return
    views, starts = sliding_windows(signal, length, stride)
    assert len(views) == len(starts) == expected
    for view, start in zip(views, starts, strict=True):
        np.testing.assert_array_equal(view, signal[:, start : start + length])


@settings(max_examples=50, deadline=None)
@given(length=st.integers(-5, 0) | st.none(), stride=st.integers(-5, 0))
def test_non_positive_sizes_are_refused(length, stride):
    with pytest.raises(SigattnError, match="must be a positive integer"):
        count_windows(100, 8 if length is None else length, stride)


# ---- leakage audit ------------------------------------------------------------------------------

L = 16  # window length of the audited windows


def _windows(entries: list[tuple[str, str, int]]) -> Windows:
    """Windows from (source, group, start) triples; the audit never looks at the samples."""
    n = len(entries)
    return Windows(
        x=np.zeros((n, 1, 1), np.float32),
        y=np.zeros(n, np.int64),
        classes=("c",),
        groups=np.array([g for _, g, _ in entries], dtype=str).reshape(n),
        sources=np.array([s for s, _, _ in entries], dtype=str).reshape(n),
        starts=np.array([t for _, _, t in entries], dtype=np.int64).reshape(n),
        fs=100.0,
    )


@st.composite
def clean_assignments(draw) -> dict[str, list[tuple[str, str, int]]]:
    """Every recording cut into blocks of L samples (touching, never overlapping), each block in a
    random split; recordings may share a group and windows may sit at any block."""
    n_sources = draw(st.integers(1, 4))
    out: dict[str, list[tuple[str, str, int]]] = {name: [] for name in SPLITS}
    for k in range(n_sources):
        blocks = draw(st.lists(st.tuples(st.integers(0, 40), st.sampled_from(SPLITS)), min_size=1, max_size=25))
        taken: dict[int, str] = dict(blocks)  # one split per block position
        for position, split in taken.items():
            out[split].append((f"rec{k}", f"g{k % 2}", position * L))
    return out


@settings(max_examples=50, deadline=None)
@given(assignment=clean_assignments())
def test_a_clean_random_assignment_passes(assignment):
    assert audit({name: _windows(v) for name, v in assignment.items()}, "segment", L).ok


@settings(max_examples=50, deadline=None)
@given(assignment=clean_assignments(), data=st.data())
def test_a_planted_sample_overlap_is_always_caught(assignment, data):
    placed = [(name, e) for name, entries in assignment.items() for e in entries]
    host_split, (source, group, start) = data.draw(st.sampled_from(placed))
    leak_split = data.draw(st.sampled_from([s for s in SPLITS if s != host_split]))
    shift = data.draw(st.integers(-(L - 1), L - 1))  # any shift that still shares a sample
    assignment[leak_split].append((source, group, start + shift))
    for name in SPLITS:  # order inside a split must not matter
        assignment[name] = data.draw(st.permutations(assignment[name]))
    for strategy in ("segment", "by-group", "random"):
        result = audit({name: _windows(v) for name, v in assignment.items()}, strategy, L)
        assert not result.ok
        assert any(f"recording {source}:" in p for p in result.problems), result.problems


@settings(max_examples=50, deadline=None)
@given(
    groups=st.lists(st.sampled_from(SPLITS), min_size=2, max_size=6),
    data=st.data(),
)
def test_a_group_planted_in_a_second_split_is_caught_by_group_strategies(groups, data):
    """Whole groups in random splits, then one more window of a group (another recording, so no
    sample overlap) in a different split: by-group reports that group, segment does not care."""
    assignment = {name: [] for name in SPLITS}
    for g, split in enumerate(groups):
        assignment[split] += [(f"rec{g}", f"g{g}", t * L) for t in range(3)]
    g = data.draw(st.integers(0, len(groups) - 1))
    other = data.draw(st.sampled_from([s for s in SPLITS if s != groups[g]]))
    assert audit({name: _windows(v) for name, v in assignment.items()}, "by-group", L).ok
    assignment[other].append((f"rec{g}-b", f"g{g}", 0))
    splits = {name: _windows(v) for name, v in assignment.items()}
    result = audit(splits, "by-group", L)
    assert not result.ok and any(f"group g{g} " in p for p in result.problems), result.problems
    assert audit(splits, "segment", L).ok


@FEW
@given(call=filter_calls())
def test_too_short_signals_are_refused_not_padded(call):
    name, fs, kwargs = call
    short = np.zeros(5)
    with pytest.raises(SigattnError, match="longer than"):
        getattr(filters, name)(short, fs, **kwargs)
