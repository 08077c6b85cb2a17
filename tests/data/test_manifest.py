"""Manifest loader: CSV/NPY/MAT/WFDB files, orientation, fs and group rules, and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from sigattn.data.manifest import load_recordings, read_signal
from sigattn.errors import SigattnError

SIG = np.arange(20, dtype=np.float64).reshape(2, 10) / 4  # (C=2, T=10)


def _manifest(folder: Path, text: str) -> Path:
    path = folder / "manifest.csv"
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """One file of each format holding SIG (the WFDB record at 2 decimals)."""
    (tmp_path / "with_header.csv").write_text("a,b\n" + "\n".join(f"{x},{y}" for x, y in SIG.T))
    (tmp_path / "plain.csv").write_text("\n".join(f"{x},{y}" for x, y in SIG.T) + "\n\n")
    np.save(tmp_path / "ct.npy", SIG)
    np.save(tmp_path / "tc.npy", SIG.T)
    np.save(tmp_path / "one.npy", SIG[0])
    scipy.io.savemat(tmp_path / "two.mat", {"X098_DE_time": SIG[:1].T * 9, "X105_DE_time": SIG[:1].T})
    scipy.io.savemat(tmp_path / "single.mat", {"sig": SIG})
    wfdb.wrsamp(
        "ecg", fs=250, units=["mV", "mV"], sig_name=["I", "II"], p_signal=SIG.T, fmt=["16", "16"],
        adc_gain=[100, 100], baseline=[0, 0], write_dir=str(tmp_path),
    )  # fmt: skip
    return tmp_path


@pytest.mark.parametrize("name", ["with_header.csv", "plain.csv", "ct.npy", "tc.npy", "single.mat"])
def test_formats_read_channels_first(files, name):
    x, fs = read_signal(files / name)
    assert x.dtype == np.float32 and fs is None
    np.testing.assert_allclose(x, SIG)


def test_one_channel_and_mat_key(files):
    assert read_signal(files / "one.npy")[0].shape == (1, 10)
    x, _ = read_signal(files / "two.mat", key="X105_DE_time")
    np.testing.assert_allclose(x, SIG[:1])


def test_wfdb_carries_fs(files):
    for path in (files / "ecg", files / "ecg.hea"):
        x, fs = read_signal(path)
        assert fs == 250.0
        np.testing.assert_allclose(x, SIG, atol=0.01)


def test_manifest_rows_groups_and_fs(files):
    manifest = _manifest(
        files,
        "path,label,group,fs,site\nct.npy,healthy,patient1,100,A\ntwo.mat#X105_DE_time,fault,,,B\necg,healthy,,,C\n\n",
    )
    recs = load_recordings(manifest, default_fs=12000)
    assert [r.label for r in recs] == ["healthy", "fault", "healthy"]
    assert [r.group for r in recs] == ["patient1", "two.mat", "ecg"]
    assert [r.fs for r in recs] == [100.0, 12000.0, 250.0]
    assert recs[1].source.endswith("two.mat#X105_DE_time") and recs[1].meta["key"] == "X105_DE_time"
    assert recs[0].meta["site"] == "A" and recs[2].signal.shape == (2, 10)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "missing column"),
        ("path,label\n", "no recordings"),
        ("path,fs\nct.npy,1\n", r"missing column\(s\) label"),
        ("path,label\nct.npy,x\n", "line 2: no sampling rate"),
        ("path,label,fs\nct.npy,x,0\n", "line 2: fs must be a positive"),
        ("path,label,fs\nct.npy,x,fast\n", "line 2: fs 'fast' is not a number"),
        ("path,label,fs\nct.npy,x,1\nnope.npy,y,1\n", r"line 3: .*nope\.npy: file not found"),
        ("path,label,fs\nct.npy,,1\n", "line 2: empty path or label"),
        ("path,label,fs\necg,x,360\n", "line 2: fs column says 360.0 Hz but the file says 250.0 Hz"),
        (
            "path,label,fs\ntwo.mat#nokey,x,1\n",
            r"two\.mat: no variable 'nokey'; available: X098_DE_time, X105_DE_time",
        ),
        ("path,label,fs\ntwo.mat,x,1\n", r"two\.mat: holds 2 arrays .*two\.mat#KEY"),
        ("path,label,fs\nct.npy#k,x,1\n", r"ct\.npy#k: a #key only applies to \.mat"),
        ("path,label,fs\nct.txt,x,1\n", "file not found"),
    ],
)
def test_manifest_errors_name_the_row(files, text, match):
    with pytest.raises(SigattnError, match=match):
        load_recordings(_manifest(files, text))


def test_csv_text_and_ragged_rows_name_the_line(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(SigattnError, match=r"bad\.csv line 3: expected numbers, got '3,oops'"):
        read_signal(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(SigattnError, match=r"ragged\.csv line 2: 1 columns; expected 2"):
        read_signal(tmp_path / "ragged.csv")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(SigattnError, match=r"empty\.csv: no samples"):
        read_signal(tmp_path / "empty.csv")


def test_corrupt_and_non_finite_files(files):
    for name in ("ct.npy", "two.mat"):
        data = (files / name).read_bytes()
        (files / f"cut_{name}").write_bytes(data[: len(data) // 2])
        with pytest.raises(SigattnError, match=rf"cut_{name}: not a readable"):
            read_signal(files / f"cut_{name}", key="X105_DE_time" if name.endswith(".mat") else None)
    bad = SIG.copy()
    bad[1, 3] = np.inf
    np.save(files / "inf.npy", bad)
    with pytest.raises(SigattnError, match=r"inf\.npy: 1 NaN/Inf samples \(first at sample 3\)"):
        read_signal(files / "inf.npy")
    np.save(files / "hollow.npy", np.zeros((2, 0)))
    with pytest.raises(SigattnError, match=r"hollow\.npy: empty signal"):
        read_signal(files / "hollow.npy")
    np.save(files / "cube.npy", np.zeros((2, 2, 2)))
    with pytest.raises(SigattnError, match=r"cube\.npy: expected a 1D or 2D array"):
        read_signal(files / "cube.npy")
    (files / "x.dat").write_bytes(b"")
    with pytest.raises(SigattnError, match="unsupported format '.dat'"):
        read_signal(files / "x.dat")
    dat = files / "ecg.dat"
    dat.write_bytes(dat.read_bytes()[:10])
    with pytest.raises(SigattnError, match=r"ecg\.hea: could not read WFDB record"):
        read_signal(files / "ecg")
