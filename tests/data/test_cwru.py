"""CWRU loader: file table, key picking, rates, labels and errors; real data when available."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from sigattn.data import cwru
from sigattn.errors import SigattnError


def _save(path: Path, variables: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, variables)
    return path


def _fault(n: int, length: int = 2400, rpm: int | None = 1797, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {f"X{n:03d}_DE_time": rng.standard_normal((length, 1))}
    if rpm is not None:
        out[f"X{n:03d}RPM"] = np.array([[rpm]], dtype=np.uint16)
    return out


@pytest.fixture
def tiny_cwru(tmp_path: Path) -> Path:
    """A data dir with 97 (48 kHz, plus FE decoy), 105 (with a decoy of 98) and 130 without RPM."""
    rng = np.random.default_rng(1)
    _save(
        tmp_path / "normal" / "97.mat",
        {"X097_FE_time": rng.standard_normal((4000, 1)), **_fault(97, 4000, 1796, seed=2)},
    )
    decoy = {"X098_DE_time": np.full((3000, 1), 7.0), "X098RPM": np.array([[1772]], dtype=np.uint16)}
    _save(tmp_path / "12k_DE" / "105.mat", {**decoy, **_fault(105, seed=3)})
    _save(tmp_path / "raw" / "105.mat", _fault(105, length=100, seed=4))  # compact copy must win
    _save(tmp_path / "12k_DE" / "130.mat", _fault(130, rpm=None, seed=5))
    return tmp_path


def _quiet_load(data_dir: Path, **kwargs) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cwru.load_recordings(data_dir, **kwargs)


def test_table_covers_the_standard_set():
    assert len(cwru.FILES) == 40
    assert cwru.FILES[97] == cwru.CwruFile("Normal", 0.0, 0)
    assert cwru.FILES[100] == cwru.CwruFile("Normal", 0.0, 3)
    assert cwru.FILES[130] == cwru.CwruFile("OR", 0.007, 0)
    assert cwru.FILES[212] == cwru.CwruFile("IR", 0.021, 3)
    assert cwru.FILES[237] == cwru.CwruFile("OR", 0.021, 3)
    labels = {cwru.class_name(f) for f in cwru.FILES.values()}
    assert labels == set(cwru.classes("10class"))
    assert cwru.classes("10class")[:4] == ("Normal", "IR007", "IR014", "IR021")
    assert cwru.classes("4class") == ("Normal", "IR", "B", "OR")


def test_unknown_scheme_lists_the_choices(tiny_cwru):
    with pytest.raises(SigattnError, match="10class, 4class"):
        cwru.load_recordings(tiny_cwru, scheme="3class")


def test_picks_the_key_of_the_file_number_and_prefers_compact(tiny_cwru):
    recs = _quiet_load(tiny_cwru, loads=(0,))
    by_file = {r.meta["file"]: r for r in recs}
    assert sorted(by_file) == [97, 105, 130]
    r105 = by_file[105]
    expected = scipy.io.loadmat(tiny_cwru / "12k_DE" / "105.mat")["X105_DE_time"].ravel()
    np.testing.assert_allclose(r105.signal[0], expected.astype(np.float32))
    assert r105.source.endswith("12k_DE/105.mat")
    assert (r105.label, r105.group, r105.fs, r105.meta["rpm"]) == ("IR007", "105", 12000.0, 1797)
    assert r105.signal.shape == (1, 2400) and r105.signal.dtype == np.float32


def test_normal_is_decimated_from_48k(tiny_cwru):
    normal = _quiet_load(tiny_cwru, loads=(0,))[0]
    assert normal.label == "Normal" and normal.fs == 12000.0
    assert normal.meta["original_fs"] == 48000.0 and normal.meta["rpm"] == 1796
    assert normal.signal.shape == (1, 1000)


def test_missing_rpm_falls_back_to_nominal(tiny_cwru):
    r130 = [r for r in _quiet_load(tiny_cwru, loads=(0,)) if r.group == "130"][0]
    assert r130.meta["rpm"] == cwru.NOMINAL_RPM[0] and not r130.meta["rpm_in_file"]


def test_schemes_and_faults_only(tiny_cwru):
    recs = _quiet_load(tiny_cwru, loads=(0,), scheme="4class", faults_only=True)
    assert [r.label for r in recs] == ["IR", "OR"]


def test_missing_normal_loads_warn(tiny_cwru):
    with pytest.warns(UserWarning, match=r"Normal is missing at load\(s\) \[1\] HP"):
        recs = cwru.load_recordings(tiny_cwru, loads=(0, 1))
    assert len(recs) == 3


def test_no_files_names_the_folder(tmp_path):
    with pytest.raises(SigattnError, match=f"no CWRU files found in {tmp_path}"):
        cwru.load_recordings(tmp_path)


def test_bad_loads(tiny_cwru):
    with pytest.raises(SigattnError, match="loads must be among"):
        cwru.load_recordings(tiny_cwru, loads=(4,))


def test_missing_key_lists_available(tmp_path):
    _save(tmp_path / "12k_DE" / "105.mat", {"X098_DE_time": np.ones((10, 1))})
    with pytest.raises(SigattnError, match=r"105\.mat: no variable 'X105_DE_time'.*X098_DE_time"):
        _quiet_load(tmp_path, loads=(0,))


def test_truncated_file_names_it(tmp_path):
    good = _save(tmp_path / "good.mat", _fault(105, length=5000))
    bad = tmp_path / "12k_DE" / "105.mat"
    bad.parent.mkdir()
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SigattnError, match=r"105\.mat: not a readable MAT file"):
        _quiet_load(tmp_path, loads=(0,))


def test_nan_samples_are_rejected(tmp_path):
    variables = _fault(105)
    variables["X105_DE_time"][5, 0] = np.nan
    _save(tmp_path / "105.mat", variables)
    with pytest.raises(SigattnError, match=r"105\.mat: X105_DE_time holds 1 NaN/Inf"):
        _quiet_load(tmp_path, loads=(0,))


# --- real data ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cwru_dir(real_data_dir: Path) -> Path:
    folder = real_data_dir / "cwru"
    if not (folder / "manifest.csv").is_file():
        pytest.skip(f"{folder}/manifest.csv not found: CWRU real-data test skipped")
    return folder


@pytest.fixture(scope="module")
def manifest_rows(cwru_dir: Path) -> dict[int, dict]:
    with (cwru_dir / "manifest.csv").open() as f:
        return {int(Path(r["file"]).stem): r for r in csv.DictReader(f)}


@pytest.mark.realdata
def test_real_load0_window_counts_per_class(cwru_dir, manifest_rows):
    recs = _quiet_load(cwru_dir, loads=(0,))
    assert [r.label for r in recs] == [
        "Normal", "IR007", "B007", "OR007", "IR014", "B014", "OR014", "IR021", "B021", "OR021"
    ]  # fmt: skip
    length = stride = 1024
    expected = {}
    for r in recs:
        row = manifest_rows[r.meta["file"]]
        n = math.ceil(int(row["n_samples"]) * 12000 / int(row["fs_hz"]))  # resample_poly length
        assert r.signal.shape == (1, n) and r.fs == 12000.0
        expected[r.label] = (n - length) // stride + 1
    assert expected["Normal"] == 59 and expected["IR007"] == 118
    classes = cwru.classes("10class")
    try:
        from sigattn.data.windows import window_spans
    except ImportError:  # windows.py not there yet: count with the same formula
        counts = {r.label: (r.signal.shape[1] - length) // stride + 1 for r in recs}
    else:
        spans = [(i, 0, r.signal.shape[1]) for i, r in enumerate(recs)]
        counts = window_spans(recs, spans, length, stride, classes).class_counts()
    assert counts == expected


@pytest.mark.realdata
def test_real_rpm_and_missing_normal(cwru_dir, manifest_rows):
    with pytest.warns(UserWarning, match=r"98\.mat, 99\.mat, 100\.mat.*\[1, 2, 3\]"):
        recs = cwru.load_recordings(cwru_dir)
    assert len(recs) == 37
    for r in recs:
        assert r.meta["rpm_in_file"] and r.meta["rpm"] == int(manifest_rows[r.meta["file"]]["rpm"])
    assert {r.meta["file"]: r.meta["rpm"] for r in recs}[121] == 1722


@pytest.mark.realdata
def test_real_raw_97_uses_the_de_key_not_fe(cwru_dir):
    raw = cwru_dir / "raw" / "97.mat"
    keys = {name for name, _, _ in scipy.io.whosmat(raw)}
    assert {"X097_DE_time", "X097_FE_time"} <= keys
    rec = cwru.load_file(raw, 97)
    compact = cwru.load_file(cwru_dir / "normal" / "97.mat", 97)
    np.testing.assert_allclose(rec.signal, compact.signal, atol=1e-5)
    data = scipy.io.loadmat(raw)
    de, fe = (np.asarray(data[k], np.float64).ravel() for k in ("X097_DE_time", "X097_FE_time"))
    fe12 = cwru.resample_poly(fe, 1, 4)
    assert not np.allclose(rec.signal[0], fe12, atol=1e-3)
    np.testing.assert_allclose(rec.signal[0], cwru.resample_poly(de, 1, 4), atol=1e-6)
    assert rec.meta["rpm"] == 1796 and rec.meta["original_fs"] == 48000.0
