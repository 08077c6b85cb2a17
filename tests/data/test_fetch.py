"""Dataset downloads against a local HTTP server on 127.0.0.1 (never the real hosts)."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sigattn.data.fetch import FetchReport, fetch_cwru, fetch_mitdb, load_checksums, verify
from sigattn.errors import SigattnError

DATA_DIR = os.environ.get("SIGATTN_DATA_DIR")
needs_data = pytest.mark.skipif(not DATA_DIR, reason="set SIGATTN_DATA_DIR to a folder with cwru/ and mitdb/")


@pytest.fixture
def wfdb_index() -> Iterator[None]:
    """Checks that fetch_mitdb leaves wfdb's global index URL as it found it."""
    from wfdb.io import download

    before = download.config.db_index_url
    yield
    after = download.config.db_index_url
    download.config.db_index_url = before
    assert after == before


def serve(root: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write `files` under `root`; return their SHA-256 values."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def fake_files(n: int = 3) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {f"{i}.mat": rng.bytes(150_000 + 7919 * i) for i in range(1, n + 1)}


def gets(httpd: http.server.ThreadingHTTPServer, name: str) -> list[str | None]:
    """The Range header of every GET for `name`."""
    return [r for path, r in httpd.seen if path.endswith("/" + name)]


def test_downloads_verifies_then_skips(server, tmp_path):
    files = fake_files()
    sums = serve(server.root, files)
    calls = []
    report = fetch_cwru(tmp_path / "out", base_url=server.url, checksums=sums, progress=lambda *a: calls.append(a))
    raw = tmp_path / "out" / "cwru" / "raw"
    assert sorted(report.downloaded) == sorted(files) and not report.skipped and not report.failed
    assert report.bytes == sum(map(len, files.values()))
    assert all((raw / n).read_bytes() == data for n, data in files.items())
    assert not list(raw.glob("*.part"))
    assert {(n, len(d), len(d)) for n, d in files.items()} <= set(calls)
    assert verify(raw, sums) == []

    server.seen.clear()
    again = fetch_cwru(tmp_path / "out", base_url=server.url, checksums=sums)
    assert (len(again.downloaded), len(again.skipped), again.bytes) == (0, 3, 0)
    assert server.seen == []
    assert "0 downloaded" in again.summary() and "3 already valid" in again.summary()


def test_resume_sends_range_for_the_rest(server, tmp_path):
    files = fake_files(1)
    sums = serve(server.root, files)
    raw = tmp_path / "cwru" / "raw"
    raw.mkdir(parents=True)
    (raw / "1.mat.part").write_bytes(files["1.mat"][:1000])
    report = fetch_cwru(tmp_path, base_url=server.url, checksums=sums)
    assert gets(server, "1.mat") == ["bytes=1000-"]
    assert report.bytes == len(files["1.mat"]) - 1000
    assert (raw / "1.mat").read_bytes() == files["1.mat"] and not (raw / "1.mat.part").exists()


def test_cut_transfer_keeps_part_and_next_run_resumes(server, tmp_path):
    files = fake_files(1)
    sums = serve(server.root, files)
    server.cut_after = 70_000
    part = tmp_path / "cwru" / "raw" / "1.mat.part"
    cut = r"closed after 70,000 of 157,919 bytes; rerun to resume from "
    with pytest.raises(SigattnError, match=rf"cannot download .*/1\.mat: the connection {cut}{re.escape(str(part))}"):
        fetch_cwru(tmp_path, base_url=server.url, checksums=sums)
    assert part.stat().st_size == 70_000 and not (part.parent / "1.mat").exists()
    server.cut_after = 0
    report = fetch_cwru(tmp_path, base_url=server.url, checksums=sums)
    assert gets(server, "1.mat") == [None, "bytes=70000-"] and report.downloaded == ["1.mat"]
    assert (part.parent / "1.mat").read_bytes() == files["1.mat"] and not part.exists()


def test_resume_restarts_when_server_ignores_range(server, tmp_path):
    server.honor_range = False
    files = fake_files(1)
    sums = serve(server.root, files)
    raw = tmp_path / "cwru" / "raw"
    raw.mkdir(parents=True)
    (raw / "1.mat.part").write_bytes(files["1.mat"][:1000])
    report = fetch_cwru(tmp_path, base_url=server.url, checksums=sums)
    assert gets(server, "1.mat") == ["bytes=1000-"]
    assert report.bytes == len(files["1.mat"]) and (raw / "1.mat").read_bytes() == files["1.mat"]


def test_damaged_part_or_final_file_is_downloaded_again(server, tmp_path):
    files = fake_files(2)
    sums = serve(server.root, files)
    raw = tmp_path / "cwru" / "raw"
    raw.mkdir(parents=True)
    (raw / "1.mat.part").write_bytes(b"x" * 1000)  # wrong bytes: the resumed file fails, then restarts
    (raw / "2.mat").write_bytes(files["2.mat"][:-1] + b"!")  # present but wrong: replaced
    report = fetch_cwru(tmp_path, base_url=server.url, checksums=sums)
    assert gets(server, "1.mat") == ["bytes=1000-", None]
    assert sorted(report.downloaded) == ["1.mat", "2.mat"]
    assert verify(raw, sums) == []


def test_corrupted_server_copy_fails_and_leaves_nothing(server, tmp_path):
    files = fake_files(2)
    sums = serve(server.root, files)
    (server.root / "2.mat").write_bytes(b"tampered")
    bad = hashlib.sha256(b"tampered").hexdigest()
    with pytest.raises(SigattnError, match=rf"2\.mat: .*expected {sums['2.mat']}, got {bad}"):
        fetch_cwru(tmp_path, base_url=server.url, checksums=sums)
    raw = tmp_path / "cwru" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == ["1.mat"]  # the good file still arrived

    report = fetch_cwru(tmp_path, base_url=server.url, checksums=sums, strict=False)
    assert report.skipped == ["1.mat"] and list(report.failed) == ["2.mat"]
    assert "SHA-256 mismatch" in report.failed["2.mat"] and not (raw / "2.mat").exists()


def test_missing_on_server_is_reported(server, tmp_path):
    sums = {"nothere.mat": "0" * 64}
    with pytest.raises(SigattnError, match=r"nothere\.mat: http://127\.0\.0\.1:\d+/nothere\.mat: HTTP 404"):
        fetch_cwru(tmp_path, base_url=server.url, checksums=sums)


def test_unreachable_server_is_a_clear_error(tmp_path):
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(SigattnError, match=rf"cannot download {re.escape(url)}/1\.mat: .*refused"):
            fetch_cwru(tmp_path, base_url=url, checksums={"1.mat": "0" * 64}, timeout=5)
        with pytest.raises(SigattnError, match=rf"cannot download {re.escape(url)}/mitdb/1\.0\.0/r1\.hea: .*refused"):
            fetch_mitdb(tmp_path, base_url=url, checksums={"r1.hea": "0" * 64})


def test_unknown_file_or_record_lists_the_choices(tmp_path):
    with pytest.raises(SigattnError, match=r"unknown CWRU file '96'; expected one of: 97, 98, 99, 100, 105"):
        fetch_cwru(tmp_path, files=[96])
    with pytest.raises(SigattnError, match=r"unknown MIT-BIH record '110'; expected one of: 100, 101"):
        fetch_mitdb(tmp_path, records=[110])


def test_packaged_checksums_and_verify(tmp_path):
    cwru, mitdb = load_checksums("cwru"), load_checksums("mitdb")
    assert len(cwru) == 40 and cwru["100.mat"].startswith("88a5990c") and cwru["98.mat"].startswith("37e6612c")
    assert len(mitdb) == 145 and "RECORDS" in mitdb and {"100.hea", "100.dat", "100.atr"} <= set(mitdb)
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"not b")
    sums_file = tmp_path / "x.sha256"
    sums_file.write_text(
        "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in [("a", b"a"), ("b", b"b"), ("c", b"c")])
    )
    problems = verify(tmp_path, sums_file)
    assert len(problems) == 2 and "b: SHA-256 mismatch" in problems[0] and problems[1].endswith("c: missing")
    assert verify(tmp_path, sums_file, ignore_missing=True) == problems[:1]
    sums_file.write_text("not a checksum line\n")
    with pytest.raises(SigattnError, match=r"x\.sha256: line 1 is not"):
        load_checksums(sums_file)


def test_mitdb_tiny_record_through_wfdb(server, tmp_path, wfdb_index):
    import wfdb

    src = server.root / "mitdb" / "1.0.0"
    src.mkdir(parents=True)
    signal = np.round(np.sin(np.linspace(0, 20, 720))[:, None] * [1.0, -0.5], 3)
    names = {"units": ["mV", "mV"], "sig_name": ["MLII", "V1"], "fmt": ["212", "212"]}
    wfdb.wrsamp("t1", fs=360, p_signal=signal, write_dir=str(src), **names)
    wfdb.wrann("t1", "atr", np.array([100, 460]), symbol=["N", "V"], write_dir=str(src))
    sums = {n: hashlib.sha256((src / n).read_bytes()).hexdigest() for n in ("t1.hea", "t1.dat", "t1.atr")}

    report = fetch_mitdb(tmp_path, records=["t1"], base_url=server.url, checksums=sums)
    assert sorted(report.downloaded) == sorted(sums) and not report.failed
    folder = tmp_path / "mitdb"
    assert verify(folder, sums) == [] and not (folder / ".partial").exists()
    record = wfdb.rdrecord(str(folder / "t1"))
    assert record.fs == 360 and record.sig_name == ["MLII", "V1"] and record.p_signal.shape == (720, 2)
    assert list(wfdb.rdann(str(folder / "t1"), "atr").symbol) == ["N", "V"]

    server.seen.clear()
    again = fetch_mitdb(tmp_path, records=["t1"], base_url=server.url, checksums=sums)
    assert (again.downloaded, sorted(again.skipped), server.seen) == ([], sorted(sums), [])


def test_mitdb_corrupt_copy_is_deleted(server, tmp_path, wfdb_index):
    data = bytes(30)
    sums = serve(server.root / "mitdb" / "1.0.0", {"r1.hea": b"r1 1 360 10\r\n", "r1.dat": data})
    sums["r1.dat"] = "f" * 64
    got = hashlib.sha256(data).hexdigest()
    with pytest.raises(SigattnError, match=rf"r1\.dat: .*expected {'f' * 64}, got {got}"):
        fetch_mitdb(tmp_path, base_url=server.url, checksums=sums)
    assert sorted(p.name for p in (tmp_path / "mitdb").iterdir()) == ["r1.hea"]


@needs_data
@pytest.mark.realdata
def test_cwru_real_files(server, tmp_path):
    raw = Path(DATA_DIR) / "cwru" / "raw"
    for number in (97, 105, 121, 130):
        shutil.copy(raw / f"{number}.mat", server.root / f"{number}.mat")
    report = fetch_cwru(tmp_path, base_url=server.url, files=[97, "105", "121.mat", 130])
    assert sorted(report.downloaded) == ["105.mat", "121.mat", "130.mat", "97.mat"]
    assert verify(tmp_path / "cwru" / "raw", "cwru", ignore_missing=True) == []
    assert isinstance(report, FetchReport) and report.bytes == sum((raw / n).stat().st_size for n in report.downloaded)


@needs_data
@pytest.mark.realdata
def test_mitdb_real_record(server, tmp_path, wfdb_index):
    import wfdb

    src = server.root / "mitdb" / "1.0.0"
    src.mkdir(parents=True)
    for name in ("100.hea", "100.dat", "100.atr"):
        shutil.copy(Path(DATA_DIR) / "mitdb" / name, src / name)
    report = fetch_mitdb(tmp_path, records=[100], base_url=server.url)
    assert sorted(report.downloaded) == ["100.atr", "100.dat", "100.hea"]
    assert verify(tmp_path / "mitdb", "mitdb", ignore_missing=True) == []
    assert wfdb.rdheader(str(tmp_path / "mitdb" / "100")).sig_len == 650000
