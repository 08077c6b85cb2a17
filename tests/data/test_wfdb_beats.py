"""dataset wfdb-beats: any folder of annotated WFDB records; real-database quirks; MIT-BIH as its preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from sigattn.config import DataConfig
from sigattn.data import mitdb
from sigattn.data import prepare as prep
from sigattn.data.wfdb_records import DataWarning, record_names
from sigattn.errors import SigattnError

SYMBOLS = ("N", "V", "A", "+", "N", "F", "~", "N")  # "+" and "~" are not beats


def write_record(folder: Path, name: str, fs: float, seconds: float = 20.0, *, lead: str = "MLII", seed: int = 0):
    """A record with spiky beats every 0.8 s, the last annotation on the last sample; returns its beat samples."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    peaks = np.arange(int(fs / 2), n - int(fs / 2), int(0.8 * fs))
    sig = np.zeros(n)
    sig[peaks] = 1.0
    sig = np.convolve(sig, np.hanning(int(0.05 * fs) + 1), "same") + 0.01 * rng.standard_normal(n)
    wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=["V1", lead], p_signal=np.stack([sig * 0, sig], 1),
                fmt=["16", "16"], write_dir=str(folder))  # fmt: skip
    symbols = [SYMBOLS[i % len(SYMBOLS)] for i in range(peaks.size)]
    wfdb.wrann(name, "atr", np.append(peaks, n - 1), np.array([*symbols, "N"]), write_dir=str(folder))
    return peaks, symbols


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """Four records, two at 360 Hz and two at 250 Hz; r4 has no MLII lead."""
    for i, fs in enumerate((360.0, 250.0, 360.0, 250.0)):
        write_record(tmp_path, f"r{i}", fs, seed=i)
    write_record(tmp_path, "r4", 250.0, lead="II")
    return tmp_path


def test_annotation_on_the_last_sample_is_dropped_with_a_warning(database):
    peaks, symbols = write_record(database, "one", 250.0)
    with pytest.warns(DataWarning, match=r"record one: annotation 'N' at sample 4999 is at or past the last sample"):
        x, fs, samples, got = mitdb.load_record(database, "one")
    assert fs == 250.0 and x.size == 5000
    np.testing.assert_array_equal(samples, peaks)
    assert list(got) == symbols


@pytest.mark.parametrize("fs", [360.0, 250.0])
def test_non_beats_are_ignored_at_either_rate(tmp_path, fs):
    peaks, symbols = write_record(tmp_path, "rec", fs)
    with pytest.warns(DataWarning):
        w = mitdb.load_beats(tmp_path, ["rec"], before=10, after=20)
    beats = [mitdb.aami_class(s) for s in symbols if mitdb.aami_class(s)]
    assert w.fs == fs and len(w) == len(beats) and w.x.shape[1:] == (1, 30)
    assert [w.classes[i] for i in w.y] == beats
    annotated = [p for p, s in zip(peaks, symbols, strict=True) if mitdb.aami_class(s)]
    np.testing.assert_array_equal(w.starts + 10, annotated)


def test_records_default_to_the_headers_or_records_file(database):
    assert record_names(database) == ["r0", "r1", "r2", "r3", "r4"]
    (database / "RECORDS").write_text("r2\nr0\n")
    assert record_names(database) == ["r2", "r0"]


def test_missing_lead_skips_the_record_with_a_note_and_lead_lists_are_tried(database):
    with pytest.warns(DataWarning, match=r"r4\.hea: record r4 has no lead 'MLII'; it has: V1, II; record skipped"):
        w = mitdb.load_beats(database, ["r1", "r4"], skip_unusable=True)
    assert set(w.groups) == {"r1"}
    with pytest.warns(DataWarning, match="last sample"):
        w = mitdb.load_beats(database, ["r1", "r4"], lead=["MLII", "II"], skip_unusable=True)
    assert set(w.groups) == {"r1", "r4"}
    with pytest.raises(SigattnError, match="no beats in records r4; none usable"), pytest.warns(DataWarning):
        mitdb.load_beats(database, ["r4"], skip_unusable=True)


def config(database: Path, **data) -> DataConfig:
    split = {"groups": {"train": ["r0", "r1"], "val": ["r2"], "test": ["r3", "r4"]}}
    return DataConfig.from_dict({"dataset": "wfdb-beats", "data_dir": str(database), "split": split, **data})


@pytest.mark.filterwarnings("ignore::sigattn.data.wfdb_records.DataWarning")
def test_wfdb_beats_resamples_to_beat_fs_and_splits_by_record(database, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = config(database, beat_fs=180, beat_window_s=[0.25, 0.45], rr_features=True,
                 beat_context="neighbours", amplitude="record-median-beat")  # fmt: skip
    assert cfg.ecg and cfg.split.strategy == "by-group"
    p = prep.prepare(cfg)
    assert p.fs == 180.0 and p.window_length == 126 and p.audit.ok
    assert {k: sorted(set(w.groups)) for k, w in p.splits.items()} == {
        "train": ["r0", "r1"], "val": ["r2"], "test": ["r3"]}  # fmt: skip
    assert p.splits["train"].x.shape[1:] == (3, 126) and p.side_stats is not None
    np.testing.assert_allclose(p.splits["train"].side.mean(axis=0), 0, atol=1e-5)
    assert prep.prepare(cfg).from_cache


@pytest.mark.filterwarnings("ignore::sigattn.data.wfdb_records.DataWarning")
def test_wfdb_beats_default_split_and_errors(database):
    cfg = DataConfig.from_dict({"dataset": "wfdb-beats", "data_dir": str(database), "cache": False, "beat_fs": 250})
    p = prep.prepare(cfg)
    assert sorted(g for w in p.splits.values() for g in set(w.groups)) == ["r0", "r1", "r2", "r3"]
    with pytest.raises(SigattnError, match="different rates"):
        prep.prepare(DataConfig.from_dict({"dataset": "wfdb-beats", "data_dir": str(database), "cache": False}))
    with pytest.raises(SigattnError, match="wfdb-beats' needs data.data_dir"):
        prep.prepare(DataConfig.from_dict({"dataset": "wfdb-beats", "cache": False}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dataset": "wfdb-beats", "split": {"strategy": "segment"}}, "needs split.strategy 'by-group'"),
        ({"dataset": "mitdb", "annotation": "qrs"}, "data.annotation needs dataset 'wfdb-beats'"),
        ({"dataset": "mitdb", "lead": ["MLII", "II"]}, "data.lead as a list of leads to try needs dataset"),
        ({"dataset": "wfdb-beats", "records": []}, "data.records must be a non-empty list"),
        ({"dataset": "wfdb-beats", "lead": 3}, "data.lead must be a lead name or a list"),
    ],
)
def test_wfdb_beats_options_are_checked_in_one_line(data, message):
    with pytest.raises(SigattnError, match=message) as e:
        DataConfig.from_dict(data)
    assert "\n" not in str(e.value)


@pytest.mark.realdata
def test_mitdb_is_a_preset_of_wfdb_beats(real_data_dir, tmp_path, monkeypatch):
    folder = real_data_dir / "mitdb"
    if not (folder / "100.hea").is_file():
        pytest.skip(f"{folder}/100.hea not found: MIT-BIH real-data test skipped")
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    options = {"rr_features": True, "beat_fs": 180, "cache": False}
    preset = prep.prepare(DataConfig.from_dict({"dataset": "mitdb", "data_dir": str(real_data_dir), **options}))
    groups = {name: sorted(set(w.groups.tolist())) for name, w in preset.splits.items()}
    records = [r for names in groups.values() for r in names]
    generic = prep.prepare(config(folder, records=records, split={"groups": groups}, **options))
    for name in ("train", "val", "test"):
        a, b = preset.splits[name], generic.splits[name]
        for key in ("x", "y", "groups", "starts", "features", "side"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=f"{name}.{key}")
    assert preset.side_stats == generic.side_stats and preset.window_length == generic.window_length
