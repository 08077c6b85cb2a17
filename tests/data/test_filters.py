import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigattn.data import filters
from sigattn.data.transforms import STEPS, Pipeline
from sigattn.errors import SigattnError

FS = 1000.0


def tone(freq: float, seconds: float = 4.0, fs: float = FS) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return np.sin(2 * np.pi * freq * t)


def middle_peak(x: np.ndarray) -> float:
    n = x.shape[-1]
    return float(np.abs(x[..., n // 4 : 3 * n // 4]).max())


@pytest.mark.parametrize(
    ("fn", "kwargs", "inband", "outband"),
    [
        (filters.bandpass, {"low": 20.0, "high": 80.0}, 40.0, 5.0),
        (filters.bandpass, {"low": 20.0, "high": 80.0}, 40.0, 200.0),
        (filters.highpass, {"cutoff": 50.0}, 150.0, 12.0),
        (filters.lowpass, {"cutoff": 50.0}, 10.0, 200.0),
    ],
)
def test_butterworth_passes_in_band_and_attenuates_out_of_band(fn, kwargs, inband, outband):
    assert middle_peak(fn(tone(inband), FS, **kwargs)) == pytest.approx(1.0, abs=0.03)
    # Order 4 applied forward and backward: >= 2 octaves away gives well over 40 dB.
    assert middle_peak(fn(tone(outband), FS, **kwargs)) < 0.01


def test_notch_kills_mains_and_keeps_neighbours():
    assert middle_peak(filters.notch(tone(50.0), FS, freq=50.0)) < 0.01
    assert middle_peak(filters.notch(tone(10.0), FS, freq=50.0)) == pytest.approx(1.0, abs=0.03)


def test_baseline_removes_wander_and_keeps_qrs_band():
    wander = 2.0 * tone(0.1, seconds=20.0) + tone(10.0, seconds=20.0)
    out = filters.remove_baseline(wander, FS)
    assert middle_peak(out - tone(10.0, seconds=20.0)) < 0.05


def test_resample_keeps_a_tones_frequency():
    x, fs = filters.resample(tone(17.0, fs=360.0), 360.0, 250.0)
    assert fs == pytest.approx(250.0)
    assert x.shape[-1] == pytest.approx(4.0 * 250, abs=1)
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / fs)
    assert freqs[np.argmax(np.abs(np.fft.rfft(x)))] == pytest.approx(17.0, abs=0.3)


def test_designs_are_cached_per_rate():
    filters.design_butter.cache_clear()
    x = tone(40.0)
    for _ in range(3):
        filters.bandpass(x, FS, 20.0, 80.0)
    info = filters.design_butter.cache_info()
    assert info.misses == 1 and info.hits == 2


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda x: filters.bandpass(x, FS, 80.0, 20.0), "low < high"),
        (lambda x: filters.bandpass(x, FS, 20.0, 600.0), "fs/2"),
        (lambda x: filters.lowpass(x, -1.0, 10.0), "fs"),
        (lambda x: filters.highpass(x, FS, 10.0, order=0), "order"),
        (lambda x: filters.notch(x, FS, freq=700.0), "freq"),
        (lambda x: filters.normalize(x, "robust"), "zscore"),
        (lambda x: filters.bandpass(x[:10], FS, 20.0, 80.0), "longer than"),
    ],
)
def test_bad_parameters_raise_sigattn_error(call, words):
    with pytest.raises(SigattnError, match=words):
        call(tone(10.0))


def test_normalize_methods_and_flat_windows():
    x = np.stack([np.linspace(-3, 5, 64), np.full(64, 7.0)])[None].astype(np.float32)
    z = filters.normalize(x, "zscore")
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[0, 0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(z[0, 0].std(), 1, atol=1e-5)
    assert np.all(z[0, 1] == 0) and np.isfinite(z).all()
    m = filters.normalize(x, "minmax")
    assert m[0, 0].min() == 0 and m[0, 0].max() == pytest.approx(1) and np.all(m[0, 1] == 0)
    assert filters.normalize(x, "none") is x


def test_envelope_and_spectrum():
    t = np.arange(2000) / FS
    am = (1 + 0.5 * np.cos(2 * np.pi * 5 * t)) * np.sin(2 * np.pi * 200 * t)
    env = filters.envelope(am)
    np.testing.assert_allclose(env[500:1500], (1 + 0.5 * np.cos(2 * np.pi * 5 * t))[500:1500], atol=0.02)
    spec = filters.spectrum(tone(100.0, seconds=1.0)[None, None])
    assert spec.shape == (1, 1, 501)
    assert np.argmax(spec[0, 0]) == 100 and spec[0, 0, 100] == pytest.approx(0.5, abs=1e-6)


def test_log_spectrum_turns_a_gain_into_a_shift_and_stays_finite():
    x = tone(100.0, seconds=1.0)[None, None] + 0.01 * tone(300.0, seconds=1.0)[None, None]
    lin, log = filters.spectrum(x), filters.spectrum(x, log=True)
    np.testing.assert_allclose(log, np.log(lin + 1e-6 * lin.max()), rtol=1e-6)
    np.testing.assert_allclose(filters.spectrum(10 * x, log=True) - log, np.log(10.0), atol=1e-5)
    assert np.isfinite(filters.spectrum(np.zeros((1, 1, 64)), log=True)).all()
    pipe = Pipeline([{"name": "spectrum", "log": True}])
    np.testing.assert_allclose(pipe.apply_windows(x, FS), log)
    with pytest.raises(SigattnError, match="transform 'spectrum' option 'log' must be true or false; got 1"):
        Pipeline([{"name": "spectrum", "log": 1}])


def test_whiten_removes_a_spectral_envelope_and_keeps_the_phase():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 1024)).astype(np.float32)
    freqs = np.fft.rfftfreq(1024, 1 / FS)
    resonance = 1 + 20 * np.exp(-(((freqs - 200) / 30) ** 2))  # a zero-phase gain: another path or resonance
    coloured = np.fft.irfft(np.fft.rfft(x, axis=-1) * resonance, n=1024, axis=-1).astype(np.float32)
    white = filters.whiten(x)
    assert white.dtype == np.float32 and white.shape == x.shape
    np.testing.assert_allclose(filters.whiten(coloured), white, atol=1e-5)
    np.testing.assert_allclose(filters.whiten(3 * x), white, atol=1e-5)
    magnitude = np.abs(np.fft.rfft(white, axis=-1))
    np.testing.assert_allclose(magnitude[..., 1:], 1.0, rtol=1e-4)
    assert magnitude[..., 0].max() < 1e-5
    assert np.isfinite(filters.whiten(np.zeros((1, 1, 64)))).all()
    np.testing.assert_allclose(Pipeline([{"name": "whiten"}]).apply_windows(coloured, FS), white, atol=1e-5)


def test_spectrum_max_hz_keeps_the_bins_up_to_that_frequency():
    x = tone(100.0, seconds=1.0)[None, None] + tone(400.0, seconds=1.0)[None, None]  # 1 Hz bins
    full = filters.spectrum(x)
    cropped = filters.spectrum(x, FS, max_hz=250.0)
    assert cropped.shape == (1, 1, 251)
    np.testing.assert_allclose(cropped, full[..., :251])
    log = filters.spectrum(x, FS, log=True, max_hz=250.0)  # the floor follows the kept bins' peak
    np.testing.assert_allclose(log, np.log(cropped + 1e-6 * cropped.max()), rtol=1e-6)
    pipe = Pipeline([{"name": "spectrum", "max_hz": 250}])
    assert Pipeline(pipe.to_config()) == pipe and pipe.apply_windows(x, FS).shape == (1, 1, 251)
    with pytest.raises(SigattnError, match=r"option 'max_hz' must be below fs/2 = 500 Hz; got 600"):
        Pipeline([{"name": "spectrum", "max_hz": 600}]).apply_windows(x, FS)


def test_add_envelope_appends_the_band_envelope_and_keeps_the_signal():
    fs = 12000.0
    t = np.arange(24000) / fs
    rhythm = 1 + 0.8 * np.cos(2 * np.pi * 100 * t)  # a 100 Hz impact rhythm on a 3 kHz resonance
    x = (rhythm * np.sin(2 * np.pi * 3000 * t) + np.sin(2 * np.pi * 30 * t)).astype(np.float32)[None]
    pipe = Pipeline([{"name": "add_envelope", "low": 1000, "high": 5000}])
    out, out_fs = pipe.apply_record(x, fs)
    assert out.shape == (2, 24000) and out.dtype == np.float32 and out_fs == fs
    np.testing.assert_array_equal(out[0], x[0])
    spec = np.abs(np.fft.rfft(out[1, 2000:-2000]))
    freqs = np.fft.rfftfreq(20000, 1 / fs)
    assert freqs[np.argmax(spec)] == pytest.approx(100, abs=1)  # the rhythm, not the 30 Hz tone nor the carrier
    assert abs(out[1].mean()) < 1e-3
    with pytest.raises(SigattnError, match="'add_envelope' needs low < high"):
        Pipeline([{"name": "add_envelope", "low": 5000, "high": 1000}])


def test_record_normalize_scales_the_whole_recording_once():
    x = np.concatenate([np.ones(100), 3 * np.ones(100)]).astype(np.float32)[None] + np.arange(200)[None] * 0.01
    out, _ = Pipeline([{"name": "record_normalize"}]).apply_record(x, 100.0)
    assert out.mean() == pytest.approx(0, abs=1e-5) and out.std() == pytest.approx(1, abs=1e-4)
    assert out[0, 150] - out[0, 50] > 1  # the level step between halves survives, as per-window z-scores would not
    with pytest.raises(SigattnError, match="'method' must be one of"):
        Pipeline([{"name": "record_normalize", "method": "l2"}])


@settings(max_examples=25, deadline=None)
@given(
    a=st.floats(-5, 5),
    b=st.floats(-5, 5),
    seed=st.integers(0, 2**16),
    name=st.sampled_from(["bandpass", "highpass", "lowpass", "notch", "baseline"]),
)
def test_filters_are_linear_finite_and_keep_shape(a, b, seed, name):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(2, 3, 512))
    params = {
        "bandpass": {"low": 5.0, "high": 100.0},
        "highpass": {"cutoff": 5.0},
        "lowpass": {"cutoff": 100.0},
    }
    pipe = Pipeline([{"name": name, **params.get(name, {})}])

    def f(s):
        return pipe.apply_record(s, FS)[0]

    out = f(a * x + b * y)
    assert out.shape == x.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out, a * f(x) + b * f(y), atol=1e-8)


def test_pipeline_orders_validates_and_round_trips():
    cfg = [{"name": "bandpass", "low": 0.5, "high": 40}, {"name": "Normalize", "method": "zscore"}]
    pipe = Pipeline(cfg)
    assert pipe.to_config() == [
        {"name": "bandpass", "low": 0.5, "high": 40.0, "order": 4},
        {"name": "normalize", "method": "zscore"},
    ]
    assert Pipeline(pipe.to_config()) == pipe
    with pytest.raises(SigattnError, match="expected one of: " + ", ".join(sorted(STEPS))):
        Pipeline([{"name": "wavelet"}])
    with pytest.raises(SigattnError, match="unknown option 'cutof'"):
        Pipeline([{"name": "highpass", "cutof": 3}])
    with pytest.raises(SigattnError, match="needs option 'low'"):
        Pipeline([{"name": "bandpass", "high": 3}])
    with pytest.raises(SigattnError, match="'order' must be an integer"):
        Pipeline([{"name": "lowpass", "cutoff": 3, "order": 2.5}])
    with pytest.raises(SigattnError, match="must come before"):
        Pipeline([{"name": "normalize"}, {"name": "notch"}])


def test_pipeline_resample_changes_fs_for_windows():
    pipe = Pipeline([{"name": "resample", "target": 250}, {"name": "envelope"}])
    sig, fs = pipe.apply_record(tone(10.0, fs=360.0)[None], 360.0)
    assert fs == pipe.output_fs(360.0) == pytest.approx(250.0) and sig.shape == (1, 1000)
    assert pipe.apply_windows(sig[None, :, :256], fs).shape == (1, 1, 256)
