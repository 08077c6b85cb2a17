import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sigattn.data.filters import bandpass, envelope
from sigattn.data.synthetic import CLASSES, BearingGeometry, fault_frequencies, synthetic_recordings
from sigattn.errors import SigattnError


def test_fault_frequencies_match_the_cwru_table():
    # CWRU lists multiples of shaft speed for the 6205-2RS JEM SKF drive-end bearing.
    f = fault_frequencies(60.0)  # fr = 1 Hz
    assert f["FR"] == 1.0
    assert f["BPFI"] == pytest.approx(5.4152, abs=2e-3)
    assert f["BPFO"] == pytest.approx(3.5848, abs=2e-3)
    assert f["FTF"] == pytest.approx(0.39828, abs=1e-3)
    assert 2 * f["BSF"] == pytest.approx(4.7135, abs=2e-3)
    with pytest.raises(SigattnError, match="geometry"):
        BearingGeometry(ball_diameter=2.0)


def test_deterministic_for_a_seed_and_independent_of_set_size():
    a = synthetic_recordings(n_per_class=2, seconds=0.5, seed=7)
    b = synthetic_recordings(n_per_class=3, seconds=0.5, seed=7)
    c = synthetic_recordings(n_per_class=2, seconds=0.5, seed=8)
    first = [r for r in b if r.source in {x.source for x in a}]
    for x, y in zip(a, first, strict=True):
        np.testing.assert_array_equal(x.signal, y.signal)
        assert x.meta == y.meta
    assert not np.array_equal(a[0].signal, c[0].signal)
    assert [r.label for r in a] == [c for c in CLASSES for _ in range(2)]
    assert a[0].signal.shape == (1, 6000) and a[0].signal.dtype == np.float32 and a[0].group == a[0].source
    assert 1720 <= a[0].meta["rpm"] <= 1800


def envelope_peak(signal: np.ndarray, fs: float) -> float:
    env = envelope(bandpass(signal, fs, 2000.0, 5000.0))
    env = env - env.mean()
    spec = np.abs(np.fft.rfft(env))
    freqs = np.fft.rfftfreq(len(env), 1 / fs)
    band = (freqs > 60) & (freqs < 190)  # holds BPFO and BPFI fundamentals, not 2 x BPFO
    return float(freqs[band][np.argmax(spec[band])])


def test_envelope_spectrum_peaks_at_the_fault_frequency():
    recs = synthetic_recordings(n_per_class=4, seconds=2.0, seed=1)
    for rec in recs:
        if rec.label in ("IR", "OR"):
            key = {"IR": "BPFI", "OR": "BPFO"}[rec.label]
            expected = fault_frequencies(rec.meta["rpm"])[key]
            assert envelope_peak(rec.signal[0], rec.fs) == pytest.approx(expected, abs=1.5), rec.source


def test_classes_are_not_separable_by_amplitude_statistics():
    recs = synthetic_recordings(n_per_class=30, seconds=0.5, seed=2)
    feats = np.array([[np.sqrt(np.mean(r.signal**2)), r.signal.std(), np.abs(r.signal).max()] for r in recs])
    labels = np.array([CLASSES.index(r.label) for r in recs])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    accuracy = cross_val_score(model, feats, labels, cv=5).mean()
    assert accuracy < 0.5  # chance is 0.25
    rms = {c: feats[labels == i, 0] for i, c in enumerate(CLASSES)}
    assert max(v.mean() for v in rms.values()) / min(v.mean() for v in rms.values()) < 1.5


def test_bad_sizes_raise():
    with pytest.raises(SigattnError, match="n_per_class"):
        synthetic_recordings(n_per_class=0)
    with pytest.raises(SigattnError, match="seconds"):
        synthetic_recordings(seconds=-1.0)
