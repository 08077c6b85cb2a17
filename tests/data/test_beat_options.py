"""Beat options of MIT-BIH preparation: rate, window in seconds, context, amplitude, train-only RR statistics."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from sigattn.config import DataConfig
from sigattn.data import mitdb
from sigattn.data import prepare as prep
from sigattn.data.beats import neighbour_context, record_amplitude
from sigattn.data.side import SideStats, rr_side_features
from sigattn.data.types import Windows
from sigattn.errors import SigattnError

RECORDS = ["100", "119"]
# Records 100 and 119 with the default MIT-BIH config: sha256 of the integer arrays (labels, starts)
# and sums of the float arrays, read off the code that still matched the byte-level fingerprint taken
# before the beat options existed. Float sums are compared with a tolerance because filter outputs
# differ in the last bits between CPUs.
DEFAULT_LABELS_SHA = "a67359434298aba6"
DEFAULT_STARTS_SHA = "775d3b6130ab6f8b"
DEFAULT_X_SUMS = (610127.5368287808, 1107599.998555072, 24417.598119974136)  # |x|, x², x at the R peak
DEFAULT_FEATURE_SUMS = (3610.7777819931507, 3611.0277819931507, 3610.4202375411987, 3611.1280614733696)


def _beats(real_data_dir: Path, records: list[str] = RECORDS, **data: object) -> tuple[Windows, np.ndarray]:
    """Beats of `records` as prepare cuts them, and their x after the window transforms."""
    cfg = DataConfig.from_dict({"dataset": "mitdb", **data})
    kw = prep.beat_options(cfg)
    w = mitdb.load_beats(real_data_dir / "mitdb", records, **kw)
    return w, kw["pipeline"].apply_windows(w.x, w.fs)


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def test_default_preparation_is_unchanged(real_data_dir):
    w, x = _beats(real_data_dir)
    assert w.fs == 360.0 and x.shape == (4260, 1, 260)
    assert (_sha(w.y.astype(np.int64)), _sha(w.starts.astype(np.int64))) == (DEFAULT_LABELS_SHA, DEFAULT_STARTS_SHA)
    x = np.asarray(x, dtype=np.float64)
    sums = (np.abs(x).sum(), np.square(x).sum(), x[:, 0, 90].sum())
    np.testing.assert_allclose(sums, DEFAULT_X_SUMS, rtol=1e-6)
    np.testing.assert_allclose(w.features.astype(np.float64).sum(axis=0), DEFAULT_FEATURE_SUMS, rtol=1e-6)


def test_beat_fs_halves_the_samples_and_keeps_the_r_peak_at_before(real_data_dir):
    plain = [{"name": "bandpass", "low": 0.5, "high": 40.0, "order": 2}]
    full, _ = _beats(real_data_dir, ["100"], transforms=plain, beat_window_s=[0.25, 0.5])
    half, _ = _beats(real_data_dir, ["100"], transforms=plain, beat_window_s=[0.25, 0.5], beat_fs=180)
    assert (full.fs, full.x.shape[-1], half.fs, half.x.shape[-1]) == (360.0, 270, 180.0, 135)
    np.testing.assert_array_equal(half.y, full.y)
    # R peaks on even 360 Hz samples fall on 180 Hz samples: there sample k is sample 2k at 360 Hz,
    # with the R peak at index before (45 and 90)
    even = (full.starts + 90) % 2 == 0
    assert even.sum() > 500 and np.array_equal(half.starts[even] + 45, (full.starts[even] + 90) // 2)
    np.testing.assert_allclose(half.x[even, 0, 45], full.x[even, 0, 90], atol=0.05)
    np.testing.assert_allclose(half.x[even, 0, :], full.x[even, 0, ::2], atol=0.05)
    np.testing.assert_array_equal(half.features, full.features)  # RR stays in seconds at the record's rate


def test_beat_options_follow_the_rate():
    kw = prep.beat_options(DataConfig(dataset="mitdb", beat_fs=180, beat_window_s=(0.25, 0.47)))
    assert (kw["before"], kw["after"]) == (45, 85)
    assert [s["name"] for s in kw["pipeline"].steps] == ["bandpass", "resample", "normalize"]
    assert kw["pipeline"].output_fs(360.0) == 180.0
    assert prep.beat_options(DataConfig(dataset="mitdb", beat_fs=180))["before"] == 90  # samples stay samples


def test_neighbours_context_has_three_channels_around_the_plain_beat(real_data_dir):
    w, x = _beats(real_data_dir, ["100"])
    wc, xc = _beats(real_data_dir, ["100"], beat_context="neighbours")
    assert xc.shape == (len(w), 3, 260)
    np.testing.assert_array_equal(xc[:, 1], x[:, 0])
    np.testing.assert_array_equal(xc[1:, 0], x[:-1, 0])  # previous beat
    np.testing.assert_array_equal(xc[:-1, 2], x[1:, 0])  # next beat
    np.testing.assert_array_equal(xc[0, 0], x[0, 0])  # the first beat is its own previous
    np.testing.assert_array_equal(wc.starts, w.starts)


def test_record_median_r_gives_each_record_median_abs_r_of_one(real_data_dir):
    w, x = _beats(real_data_dir, amplitude="record-median-r")
    assert [s["name"] for s in prep.beat_pipeline(DataConfig(dataset="mitdb", amplitude="record-median-r")).steps] == [
        "bandpass"
    ]
    for record in RECORDS:
        r = x[w.groups == record, 0, 90]
        assert np.median(np.abs(r)) == pytest.approx(1.0, abs=1e-6)
    raw, _ = _beats(real_data_dir, transforms=[{"name": "bandpass", "low": 0.5, "high": 40.0, "order": 2}])
    scales = [np.median(np.abs(raw.x[raw.groups == r, 0, 90])) for r in RECORDS]
    assert abs(scales[0] - scales[1]) > 0.1  # the records really differ in amplitude


def test_record_median_beat_is_subtracted_before_the_window_transforms(real_data_dir):
    w, x = _beats(real_data_dir, amplitude="record-median-beat")
    plain, _ = _beats(real_data_dir)
    for record in RECORDS:
        beats = w.x[w.groups == record]
        np.testing.assert_allclose(np.median(beats, axis=0), 0.0, atol=1e-6)
    assert not np.allclose(x, _beats(real_data_dir)[1])
    assert plain.x.shape == w.x.shape


def test_record_options_on_synthetic_beats():
    beats = np.array([[[0.0, 2.0, 0.0]], [[1.0, -4.0, 1.0]], [[0.0, 6.0, 2.0]]], np.float32)
    np.testing.assert_allclose(record_amplitude(beats, 1, "record-median-r"), beats / 4.0)
    np.testing.assert_allclose(record_amplitude(beats, 1, "record-median-beat"), beats - [[0.0, 2.0, 1.0]])
    assert record_amplitude(beats, 1, "window") is not None
    np.testing.assert_array_equal(record_amplitude(beats, 1, "window"), beats)
    ctx = neighbour_context(beats, "neighbours")
    np.testing.assert_array_equal(ctx[:, 0], beats[[0, 0, 1], 0])
    np.testing.assert_array_equal(ctx[:, 2], beats[[1, 2, 2], 0])
    with pytest.raises(SigattnError, match="one of: window, record-median-r, record-median-beat"):
        record_amplitude(beats, 1, "global")


def _split(seed: int, scale: float, n: int = 40) -> Windows:
    rng = np.random.default_rng(seed)
    prev, nxt = rng.uniform(0.4, 1.2, n) * scale, rng.uniform(0.4, 1.2, n) * scale
    rr = np.stack([prev, nxt, (prev + nxt) / 2, np.full(n, prev.mean())], axis=1).astype(np.float32)
    names = np.array([f"r{seed}"] * n)
    return Windows(np.zeros((n, 1, 8), np.float32), np.zeros(n, np.int64), ("N",), names, names, np.arange(n) * 8,
                   360.0, features=rr)  # fmt: skip


def test_rr_side_features_use_train_statistics_only():
    splits = {"train": _split(0, 1.0), "val": _split(1, 1.5), "test": _split(2, 0.7)}
    out, stats = prep._standardised_side(splits)
    train_raw = rr_side_features(splits["train"].features)
    np.testing.assert_allclose(stats.mean, train_raw.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(out["train"].side.mean(axis=0), 0.0, atol=1e-5)
    for name in ("val", "test"):
        raw = rr_side_features(splits[name].features)
        std = train_raw.std(axis=0)
        expected = (raw - train_raw.mean(axis=0)) / np.where(std < 1e-6, 1.0, std)  # one record: a constant mean RR
        np.testing.assert_allclose(out[name].side, expected, rtol=1e-4, atol=1e-5)
        assert not np.allclose(out[name].side[:, 3].mean(), 0.0, atol=0.1)  # not its own mean
    assert SideStats.from_dict(stats.to_dict()) == stats
    assert stats.names[-1] == "prev_rr/next_rr"


def test_prepared_carries_the_train_statistics_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(prep.CACHE_ENV, str(tmp_path / "cache"))

    def fake(data_dir, records, **kw):
        parts = [_split(i, 1.0 + (r in ("122", "208", "220")), n=10) for i, r in enumerate(records)]
        names = np.concatenate([np.full(10, r) for r in records])
        return Windows(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]), ("N",), names,
                       names.copy(), np.concatenate([p.starts for p in parts]), 360.0,
                       features=np.concatenate([p.features for p in parts]))  # fmt: skip

    monkeypatch.setattr(mitdb, "load_beats", fake)
    cfg = DataConfig(dataset="mitdb", data_dir=str(tmp_path), rr_features=True)
    first = prep.prepare(cfg)
    train = rr_side_features(first.splits["train"].features)
    np.testing.assert_allclose(first.side_stats.mean, train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(first.splits["train"].side.std(axis=0), 1.0, rtol=1e-3)
    again = prep.prepare(cfg)
    assert again.from_cache and again.side_stats == first.side_stats
    assert prep.prepare(DataConfig(dataset="mitdb", data_dir=str(tmp_path))).side_stats is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dataset": "cwru", "beat_fs": 180}, r"data.beat_fs needs a beat dataset \('mitdb'\); got dataset 'cwru'"),
        ({"dataset": "synthetic", "beat_context": "neighbours"}, "data.beat_context needs a beat dataset"),
        ({"dataset": "cwru", "amplitude": "record-median-beat"}, "data.amplitude needs a beat dataset"),
        ({"dataset": "manifest", "manifest": "m.csv", "beat_window_s": [0.2, 0.4]}, "data.beat_window_s needs a"),
        ({"dataset": "mitdb", "amplitude": "max"}, "data.amplitude must be one of: window, record-median-r, record-"),
        ({"dataset": "mitdb", "beat_context": "wide"}, "data.beat_context must be one of: none, neighbours; got"),
        ({"dataset": "mitdb", "beat_fs": 0}, "data.beat_fs must be a positive rate in Hz or null"),
        ({"dataset": "mitdb", "beat_window_s": [0.2]}, r"data.beat_window_s must be \[before, after\] seconds"),
        ({"dataset": "mitdb", "beat_window_s": [0.2, 0.4], "beat_after": 100}, r"and data.beat_after \(100\) both set"),
        (
            {"dataset": "mitdb", "beat_fs": 250, "transforms": [{"name": "resample", "target": 250}]},
            "data.beat_fs and a 'resample' transform both set the beat rate",
        ),
        (
            {"dataset": "mitdb", "amplitude": "record-median-r", "transforms": [{"name": "normalize"}]},
            "drop the 'normalize' step",
        ),
    ],
)
def test_beat_options_are_checked_in_one_line(data, message):
    with pytest.raises(SigattnError, match=message) as e:
        DataConfig.from_dict(data)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "change",
    [
        {"beat_fs": 180},
        {"beat_window_s": [0.25, 0.5]},
        {"beat_context": "neighbours"},
        {"amplitude": "record-median-beat"},
        {"amplitude": "record-median-r"},
    ],  # fmt: skip
)
def test_every_beat_option_changes_the_cache_key(tmp_path, change):
    base = {"dataset": "mitdb", "data_dir": str(tmp_path)}
    assert prep.cache_key(DataConfig.from_dict(base)) != prep.cache_key(DataConfig.from_dict({**base, **change}))
    assert (
        DataConfig.from_dict({**base, **change}).to_dict()
        == DataConfig.from_dict(DataConfig.from_dict({**base, **change}).to_dict()).to_dict()
    )
