import numpy as np
import pytest

from sigattn.data import cwru, synthetic
from sigattn.data.fault_signature import fault_signature, prominence, squared_envelope_spectrum, usable_bands
from sigattn.errors import SigattnError

RATE_OF = {"OR": "BPFO", "IR": "BPFI", "B": "2xBSF"}


def test_each_synthetic_fault_points_to_its_own_rate_and_normal_to_none():
    recordings = synthetic.synthetic_recordings(n_per_class=4, seconds=2.0, fs=12000.0, seed=3)
    for rec in recordings:
        found = fault_signature(rec.signal[0], rec.fs, rec.meta["rpm"])
        if rec.label == "Normal":
            assert found.margin < 2, (rec.source, found)
        else:
            assert found.points_to == RATE_OF[rec.label], (rec.source, found)
        assert set(found.prominence) == {"500-2000", "2000-4000", "4000-5800"}


def test_prominence_of_a_rate_that_is_present_and_one_that_is_not():
    fs, rate = 12000.0, 107.0
    t = np.arange(int(2 * fs)) / fs
    rng = np.random.default_rng(0)
    carrier = np.sin(2 * np.pi * 3000 * t) * (1 + np.cos(2 * np.pi * rate * t))  # 3 kHz amplitude-modulated at 107 Hz
    freqs, spec = squared_envelope_spectrum(carrier + 0.3 * rng.standard_normal(len(t)), fs, 2000, 4000)
    assert prominence(freqs, spec, rate) > 50
    assert prominence(freqs, spec, 162.0) < 5
    with pytest.raises(SigattnError, match="above the spectrum"):
        prominence(freqs, spec, 7000.0)


def test_bands_are_cut_below_nyquist_and_an_empty_choice_is_an_error():
    assert usable_bands(4000.0) == [(500.0, 1940.0)]
    with pytest.raises(SigattnError, match=r"no envelope band \(500-2000, 2000-4000, 4000-5800 Hz\) lies below 388 Hz"):
        usable_bands(800.0)


def test_cwru_inner_and_outer_race_files_read_as_their_fault_but_the_014_outer_race_files_do_not(real_data_dir):
    recordings = {int(r.group): r for r in cwru.load_recordings(real_data_dir, loads=(0,))}
    found = {n: fault_signature(r.signal[0], r.fs, r.meta["rpm"]) for n, r in recordings.items() if n != 97}
    for number, rate in ((105, "BPFI"), (169, "BPFI"), (209, "BPFI"), (130, "BPFO"), (234, "BPFO")):
        assert found[number].points_to == rate and found[number].margin > 2, (number, found[number])
    assert found[197].points_to != "BPFO" and found[197].margin < 2, found[197]  # OR 0.014 in at 0 HP
