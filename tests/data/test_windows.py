import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigattn.data.types import Recording
from sigattn.data.windows import concat, count_windows, sliding_windows, take, window_spans
from sigattn.errors import SigattnError


@pytest.mark.parametrize(
    ("n", "length", "stride", "expected"),
    [(10, 10, 1, 1), (10, 4, 2, 4), (11, 4, 2, 4), (12, 4, 2, 5), (9, 10, 1, 0), (1000, 256, 256, 3)],
)
def test_count_windows_formula(n, length, stride, expected):
    assert count_windows(n, length, stride) == expected


@settings(max_examples=50, deadline=None)
@given(
    channels=st.integers(1, 3),
    length=st.integers(1, 40),
    stride=st.integers(1, 40),
    extra=st.integers(0, 100),
)
def test_every_window_equals_its_slice(channels, length, stride, extra):
    signal = np.arange(channels * (length + extra), dtype=np.float32).reshape(channels, -1)
    views, starts = sliding_windows(signal, length, stride)
    assert views.shape == (count_windows(signal.shape[-1], length, stride), channels, length)
    assert np.shares_memory(views, signal)  # a view, no copy
    for view, start in zip(views, starts, strict=True):
        np.testing.assert_array_equal(view, signal[:, start : start + length])
    assert starts[-1] + length <= signal.shape[-1] < starts[-1] + stride + length


def test_too_short_signal_names_the_source():
    with pytest.raises(SigattnError, match="rec-7: 5 samples is shorter than one window of 8"):
        sliding_windows(np.zeros((1, 5)), 8, 4, source="rec-7")
    with pytest.raises(SigattnError, match="window stride"):
        count_windows(100, 8, 0)


def test_window_spans_report_starts_in_the_whole_recording():
    recs = [
        Recording(np.arange(100, dtype=np.float32)[None], 10.0, "a", "g0", "r0"),
        Recording(-np.arange(50, dtype=np.float32)[None], 10.0, "b", "g1", "r1"),
    ]
    w = window_spans(recs, [(0, 30, 70), (1, 0, 50)], 10, 5, ("a", "b"))
    assert w.x.shape == (7 + 9, 1, 10) and w.x.dtype == np.float32
    assert w.starts[:3].tolist() == [30, 35, 40] and w.class_counts() == {"a": 7, "b": 9}
    np.testing.assert_array_equal(w.x[0, 0], np.arange(30, 40))
    both = concat([take(w, w.y == 0), take(w, w.y == 1)])
    np.testing.assert_array_equal(both.x, w.x)
    with pytest.raises(SigattnError, match="not one of the classes"):
        window_spans(recs, [(0, 0, 100)], 10, 5, ("b",))
