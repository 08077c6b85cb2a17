"""MIT-BIH loader: leads by name, AAMI mapping, edge beats, RR features, errors; real counts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import wfdb

from sigattn.data import mitdb
from sigattn.errors import SigattnError

try:
    from sigattn.data.splits import DS1, DS2, PACED
except ImportError:  # splits.py (or what it imports) not there yet
    DS1 = tuple(map(str, (101, 106, 108, 109, 112, 114, 115, 116, 118, 119, 122)))
    DS1 += tuple(map(str, (124, 201, 203, 205, 207, 208, 209, 215, 220, 223, 230)))
    DS2 = tuple(map(str, (100, 103, 105, 111, 113, 117, 121, 123, 200, 202, 210)))
    DS2 += tuple(map(str, (212, 213, 214, 219, 221, 222, 228, 231, 232, 233, 234)))
    PACED = ("102", "104", "107", "217")

FS = 360
BEATS = np.array([5, 400, 800, 1200, 2000, 3000, 3595])
SYMBOLS = np.array(["N", "V", "+", "A", "F", "/", "N"])  # "+" is a rhythm note, not a beat


@pytest.fixture
def tiny_record(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Record `rec` with V5 on channel 0 and MLII (a ramp, in mV) on channel 1, like 114."""
    mlii = np.round(np.linspace(-2, 2, 3600) * 200) / 200
    v5 = np.zeros(3600)
    wfdb.wrsamp(
        "rec", fs=FS, units=["mV", "mV"], sig_name=["V5", "MLII"], p_signal=np.stack([v5, mlii], 1),
        fmt=["212", "212"], adc_gain=[200, 200], baseline=[1024, 1024], write_dir=str(tmp_path),
    )  # fmt: skip
    wfdb.wrann("rec", "atr", BEATS, SYMBOLS, write_dir=str(tmp_path))
    return tmp_path, mlii.astype(np.float32)


def test_aami_mapping():
    for symbols, cls in (("NLRej", "N"), ("AaJS", "S"), ("VE", "V"), ("F", "F"), ("/fQ", "Q")):
        assert all(mitdb.aami_class(s) == cls for s in symbols)
    assert all(mitdb.aami_class(s) is None for s in ["+", "~", "!", '"', "x", "|", "[", "]"])
    assert mitdb.AAMI_CLASSES == ("N", "S", "V", "F", "Q")


def test_load_record_picks_lead_by_name(tiny_record):
    folder, mlii = tiny_record
    x, fs, samples, symbols = mitdb.load_record(folder, "rec")
    assert fs == FS and x.dtype == np.float32 and x.shape == (3600,)
    np.testing.assert_allclose(x, mlii, atol=1e-6)
    np.testing.assert_array_equal(samples, BEATS)
    assert list(symbols) == list(SYMBOLS)
    v5, *_ = mitdb.load_record(folder / "rec.hea", "rec", lead="V5")
    assert not v5.any()


def test_beats_keep_edges_with_padding(tiny_record):
    folder, mlii = tiny_record
    w = mitdb.load_beats(folder, ["rec"])
    beats = BEATS[SYMBOLS != "+"]
    assert w.x.shape == (6, 1, 260) and w.x.dtype == np.float32 and w.fs == FS
    assert [w.classes[i] for i in w.y] == ["N", "V", "S", "F", "Q", "N"]
    np.testing.assert_array_equal(w.starts, beats - 90)
    assert list(w.groups) == ["rec"] * 6 and list(w.sources) == ["rec"] * 6
    np.testing.assert_array_equal(w.x[1, 0], mlii[400 - 90 : 400 + 170])
    np.testing.assert_array_equal(w.x[0, 0, :85], np.full(85, mlii[0]))  # edge-padded start
    np.testing.assert_array_equal(w.x[0, 0, 85:], mlii[: 260 - 85])
    np.testing.assert_array_equal(w.x[-1, 0, 95:], np.full(165, mlii[-1]))  # edge-padded end


def test_rr_features_by_hand():
    f = mitdb.rr_features(np.array([0, 360, 720, 1440]), 360.0)
    np.testing.assert_allclose(f[:, 0], [1, 1, 1, 2])  # previous (first beat: its next)
    np.testing.assert_allclose(f[:, 1], [1, 1, 2, 2])  # next (last beat: its previous)
    np.testing.assert_allclose(f[:, 2], [1, 1, 1, 1.25])  # local mean of previous RRs
    np.testing.assert_allclose(f[:, 3], 4 / 3, rtol=1e-6)  # record mean
    long = mitdb.rr_features(np.cumsum(np.r_[0, np.arange(1, 15)]) * 36, 360.0)  # RR 0.1..1.4 s
    np.testing.assert_allclose(long[-1, 2], np.mean(np.arange(5, 15)) / 10, rtol=1e-6)  # last 10 only
    assert long.dtype == np.float32 and long.shape == (15, 4)


def test_pipeline_runs_on_the_record_and_rescales_peaks(tiny_record):
    folder, mlii = tiny_record

    class Halve:
        def apply_record(self, signal: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
            assert signal.shape == (1, 3600)
            return signal[:, ::2] * 2, fs / 2

    w = mitdb.load_beats(folder, ["rec"], pipeline=Halve(), before=10, after=20)
    assert w.fs == 180.0 and w.x.shape == (6, 1, 30)
    assert w.starts[1] == 200 - 10
    np.testing.assert_allclose(w.x[1, 0], 2 * mlii[::2][190:220])
    np.testing.assert_allclose(w.features[1, :2], [395 / 360, 800 / 360], rtol=1e-6)  # "+" skipped


def test_unknown_lead_lists_the_leads(tiny_record):
    folder, _ = tiny_record
    with pytest.raises(SigattnError, match=r"rec\.hea: record rec has no lead 'V1'; it has: V5, MLII"):
        mitdb.load_beats(folder, ["rec"], lead="V1")


def test_missing_record(tmp_path):
    with pytest.raises(SigattnError, match=r"record 999: header .*999\.hea not found"):
        mitdb.load_record(tmp_path, "999")


def test_truncated_dat_names_it(tiny_record):
    folder, _ = tiny_record
    dat = folder / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    with pytest.raises(SigattnError, match=r"rec\.dat: could not read lead MLII"):
        mitdb.load_record(folder, "rec")


def test_corrupt_header_and_annotations(tiny_record):
    folder, _ = tiny_record
    (folder / "rec.atr").write_bytes(b"\x00\x01\x02")
    with pytest.raises(SigattnError, match=r"rec\.atr: corrupt annotations"):
        mitdb.load_record(folder, "rec")
    (folder / "rec.atr").unlink()
    with pytest.raises(SigattnError, match=r"annotation file .*rec\.atr not found"):
        mitdb.load_record(folder, "rec")
    (folder / "rec.hea").write_text("garbage\n")
    with pytest.raises(SigattnError, match=r"rec\.hea: corrupt header"):
        mitdb.load_record(folder, "rec")


def test_bad_window_and_empty_records(tiny_record):
    folder, _ = tiny_record
    with pytest.raises(SigattnError, match="before >= 0"):
        mitdb.load_beats(folder, ["rec"], before=-1)
    with pytest.raises(SigattnError, match="at least one"):
        mitdb.load_beats(folder, [])


# --- real data ------------------------------------------------------------------------------

PROVENANCE_COUNTS = {
    "DS1": {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8},
    "DS2": {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7},
}


@pytest.fixture(scope="module")
def mitdb_dir(real_data_dir: Path) -> Path:
    folder = real_data_dir / "mitdb"
    if not (folder / "100.hea").is_file():
        pytest.skip(f"{folder}/100.hea not found: MIT-BIH real-data test skipped")
    return folder


@pytest.fixture(scope="module")
def real_beats(mitdb_dir: Path) -> dict:
    start = time.perf_counter()
    out = {"DS1": mitdb.load_beats(mitdb_dir, DS1), "DS2": mitdb.load_beats(mitdb_dir, DS2)}
    out["seconds"] = time.perf_counter() - start
    return out


@pytest.mark.realdata
@pytest.mark.parametrize("split", ["DS1", "DS2"])
def test_real_aami_counts_match_provenance(real_beats, split):
    w = real_beats[split]
    assert w.class_counts() == PROVENANCE_COUNTS[split]
    assert w.x.shape == (len(w), 1, 260) and w.fs == 360.0
    assert w.features.shape == (len(w), 4) and np.isfinite(w.features).all()
    assert 0.2 < float(np.median(w.features[:, 0])) < 2.0  # RR in seconds
    assert set(w.groups) == set(DS1 if split == "DS1" else DS2)
    assert real_beats["seconds"] < 30


@pytest.mark.realdata
def test_real_114_reads_mlii_from_channel_1(mitdb_dir):
    x, fs, *_ = mitdb.load_record(mitdb_dir, "114")
    both = wfdb.rdrecord(str(mitdb_dir / "114")).p_signal
    assert wfdb.rdheader(str(mitdb_dir / "114")).sig_name == ["V5", "MLII"]
    np.testing.assert_allclose(x, both[:, 1], atol=1e-6)
    assert not np.allclose(x, both[:, 0])


@pytest.mark.realdata
@pytest.mark.parametrize("record", ["102", "104"])
def test_real_paced_without_mlii_raise(mitdb_dir, record):
    assert record in PACED
    with pytest.raises(SigattnError, match=rf"{record}\.hea: record {record} has no lead 'MLII'; it has: V5, V2"):
        mitdb.load_beats(mitdb_dir, [record])
